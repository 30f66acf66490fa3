"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2...), so API servers and workers share images.

A PUT of one object is atomic in S3: a reader sees the old object, the new
one, or none, never half of one. Network and permission failures become
``BlobStoreError``; a missing key is ``FileNotFoundError`` like the local store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lookalike.errors import BlobStoreError
from lookalike.store.blobs import check_key

if TYPE_CHECKING:
    from lookalike.config import Settings

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        if not settings.s3_bucket:
            raise BlobStoreError("LOOKALIKE_BLOB_BACKEND=s3 needs a bucket.", hint="Set LOOKALIKE_S3_BUCKET.")
        import boto3
        from botocore.config import Config

        secret = settings.s3_secret_access_key
        client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region or None,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
            # Path-style addressing works with every S3-compatible server;
            # bounded timeouts so a dead store fails a request instead of hanging it.
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=5,
                read_timeout=30,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def _key(self, key: str) -> str:
        return self.prefix + str(check_key(key))

    def put(self, key: str, data: bytes) -> None:
        self._call("write", key, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)

    def get(self, key: str) -> bytes:
        response = self._call("read", key, self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return response["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._call("check", key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def delete_prefix(self, prefix: str) -> None:
        base = self._key(prefix)
        keys = [base]
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=base + "/")))
        for page in pages:
            keys.extend(item["Key"] for item in page.get("Contents", []))
        # delete_objects takes at most 1000 keys per call.
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self._call("delete", prefix, self.client.delete_objects, Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def list_prefixes(self, prefix: str) -> list[str]:
        base = self._key(prefix) + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        # The delimiter folds every key under base/NAME/ into one CommonPrefix: one
        # entry per folder, not per object.
        pages = self._call(
            "list", prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"))
        )
        names = {entry["Prefix"][len(base) :].rstrip("/") for page in pages for entry in page.get("CommonPrefixes", [])}
        return sorted(name for name in names if name)

    def last_modified(self, prefix: str) -> float | None:
        base = self._key(prefix) + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call("list", prefix, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=base)))
        times = [item["LastModified"].timestamp() for page in pages for item in page.get("Contents", [])]
        return max(times, default=None)

    def _call(self, action: str, key: str, method, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _MISSING:
                raise FileNotFoundError(f"No blob {key!r} in s3://{self.bucket}/{self.prefix}") from exc
            raise self._error(action, key, exc) from exc
        except BotoCoreError as exc:
            raise self._error(action, key, exc) from exc

    def _error(self, action: str, key: str, exc: Exception) -> BlobStoreError:
        return BlobStoreError(
            f"Could not {action} blob {key!r} in s3://{self.bucket}/{self.prefix}: {type(exc).__name__}: {exc}",
            details={"bucket": self.bucket, "key": key},
        )
