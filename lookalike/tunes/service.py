"""Create, read and delete tunes. The only writer of tune rows and tune blobs."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model
from lookalike.errors import InvalidFieldError, NoPhotosError, TooManyPhotosError, TuneNotFoundError
from lookalike.faces.align import LARGE_TEMPLATE
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.backends.base import FaceEncoder
from lookalike.faces.compare import mean_identity
from lookalike.store.blobs import BlobStore
from lookalike.store.tables import EmbeddingRow, IdentityRow, PhotoRow, TuneRow, utcnow
from lookalike.tunes.identity import build_identity
from lookalike.tunes.photo_check import CheckedPhoto, PhotoInput, PhotoLimits, check_photo
from lookalike.tunes.views import tune_to_dict

# FaceID conditions on a human face; other Astria classes (dog, style, ...)
# have no face to find. Extend by setting, not by code, if a user needs more.
HUMAN_CLASS_NAMES = frozenset({"man", "woman", "boy", "girl", "person", "male", "female", "child", "baby"})
MAX_TITLE_LENGTH = 255


@dataclass
class TuneService:
    sessions: sessionmaker[Session]
    blobs: BlobStore
    analyzer: FaceAnalyzer
    photo_limits: PhotoLimits
    max_photos: int
    keep_originals: bool = False

    # -- create -----------------------------------------------------------

    def create(
        self,
        *,
        title: str,
        name: str,
        photos: Sequence[PhotoInput],
        base_model: str | int | None = None,
        account_id: int | None = None,
    ) -> dict:
        """Check every photo, then store the tune in one go.

        Nothing is written until every photo has passed, and a failure while
        writing removes what was written, so a rejected tune leaves nothing.
        """
        title, name = _check_title(title), _check_class_name(name)
        spec = get_base_model(base_model if base_model not in (None, "") else DEFAULT_BASE_MODEL_ID)
        if not photos:
            raise NoPhotosError("A tune needs at least one photo.", field="images")
        if len(photos) > self.max_photos:
            raise TooManyPhotosError(
                f"{len(photos)} photos given; a tune takes at most {self.max_photos}.",
                field="images",
                hint=f"Pick the {self.max_photos} best photos.",
            )
        checked = [check_photo(i, p, self.analyzer, self.photo_limits) for i, p in enumerate(photos)]
        encoder = self.analyzer.encoder.name
        identity = build_identity(encoder, [c.face.embeddings[encoder] for c in checked])

        with self.sessions() as session:
            now = utcnow()
            tune = TuneRow(
                account_id=account_id,
                title=title,
                name=name,
                model_type="faceid",
                base_model_id=spec.id,
                trained_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(tune)
            session.flush()
            prefix = f"tunes/{tune.id}"
            try:
                for c in checked:
                    tune.photos.append(self._store_photo(prefix, c, photos[c.index], encoder))
                tune.identities.append(
                    IdentityRow(
                        encoder=encoder,
                        dim=int(identity.vector.size),
                        vector=identity.vector.astype(np.float32).tobytes(),
                        min_similarity=identity.min_similarity,
                    )
                )
                session.commit()
            except BaseException:
                session.rollback()
                self.blobs.delete_prefix(prefix)
                raise
            return tune_to_dict(tune)

    def _store_photo(self, prefix: str, c: CheckedPhoto, photo: PhotoInput, encoder: str) -> PhotoRow:
        crop_key = f"{prefix}/photo-{c.index}-crop112.png"
        large_key = f"{prefix}/photo-{c.index}-crop{c.face.crop_large.shape[0]}.png"
        self.blobs.put(crop_key, _png(c.face.crop_112))
        self.blobs.put(large_key, _png(c.face.crop_large))
        original_key = None
        if self.keep_originals:
            original_key = f"{prefix}/photo-{c.index}-original"
            self.blobs.put(original_key, photo.data)
        vector = c.face.embeddings[encoder].astype(np.float32)
        return PhotoRow(
            position=c.index,
            filename=(c.filename or None) and c.filename[:255],
            width=int(c.image.shape[1]),
            height=int(c.image.shape[0]),
            box=c.face.detection.box_dict(),
            landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in c.face.detection.landmarks],
            quality=c.face.quality.to_dict(),
            ignored_faces=c.ignored_faces,
            crop_key=crop_key,
            large_crop_key=large_key,
            original_key=original_key,
            embeddings=[EmbeddingRow(encoder=encoder, dim=int(vector.size), vector=vector.tobytes())],
        )

    # -- read ---------------------------------------------------------------

    def list(self, *, account_id: int | None = None, limit: int = 20, offset: int = 0) -> list[dict]:
        with self.sessions() as session:
            query = (
                select(TuneRow)
                .where(TuneRow.account_id.is_(None) if account_id is None else TuneRow.account_id == account_id)
                .options(selectinload(TuneRow.photos), selectinload(TuneRow.identities))
                .order_by(TuneRow.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [tune_to_dict(t) for t in session.scalars(query)]

    def get(self, tune_id: int, *, account_id: int | None = None) -> dict:
        with self.sessions() as session:
            return tune_to_dict(self._load(session, tune_id, account_id))

    def identity(self, tune_id: int, encoder: FaceEncoder, *, account_id: int | None = None) -> np.ndarray:
        """The tune's identity vector for ``encoder``, computing it from the kept crops if new.

        This is how a tune made with the offline encoder gets, say, a
        buffalo_l embedding for the FaceID adapter without a new upload.
        """
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id)
            for row in tune.identities:
                if row.encoder == encoder.name:
                    return np.frombuffer(row.vector, dtype=np.float32).copy()
            vectors = []
            for photo in tune.photos:
                crop = np.asarray(Image.open(io.BytesIO(self.blobs.get(photo.large_crop_key))).convert("RGB"))
                vector = encoder.embed(crop, [LARGE_TEMPLATE])[0].astype(np.float32)
                photo.embeddings.append(EmbeddingRow(encoder=encoder.name, dim=int(vector.size), vector=vector.tobytes()))
                vectors.append(vector)
            mean = mean_identity(vectors)
            tune.identities.append(
                IdentityRow(
                    encoder=encoder.name,
                    dim=int(mean.size),
                    vector=mean.tobytes(),
                    min_similarity=float(min(np.dot(v, mean) for v in vectors)),
                )
            )
            session.commit()
            return mean

    def large_crops(self, tune_id: int, *, account_id: int | None = None) -> list[np.ndarray]:
        """The tune's kept aligned crops (LARGE_TEMPLATE, RGB uint8), in photo order: face swap's sources."""
        with self.sessions() as session:
            keys = [photo.large_crop_key for photo in self._load(session, tune_id, account_id).photos]
        return [np.asarray(Image.open(io.BytesIO(self.blobs.get(key))).convert("RGB")) for key in keys]

    def _load(self, session: Session, tune_id: int, account_id: int | None) -> TuneRow:
        tune = session.get(TuneRow, tune_id, options=[selectinload(TuneRow.photos), selectinload(TuneRow.identities)])
        # Another account's tune is reported exactly like a missing one, so ids
        # reveal nothing about other accounts.
        if tune is None or tune.account_id != account_id:
            raise TuneNotFoundError(f"There is no tune {tune_id}.", details={"tune_id": tune_id})
        return tune

    # -- delete -------------------------------------------------------------

    def delete(self, tune_id: int, *, account_id: int | None = None) -> None:
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id)
            session.delete(tune)
            session.commit()
        # Rows first: a crash between the two leaves orphan files, never rows
        # pointing at missing files.
        self.blobs.delete_prefix(f"tunes/{tune_id}")


def _png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    # Crops are small and written on the request path: favour speed over size.
    Image.fromarray(rgb).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _check_title(title: str) -> str:
    title = (title or "").strip()
    if not title:
        raise InvalidFieldError("The tune needs a title.", field="title", hint="Give a title, e.g. the person's name.")
    if len(title) > MAX_TITLE_LENGTH:
        raise InvalidFieldError(f"The title is {len(title)} characters; at most {MAX_TITLE_LENGTH}.", field="title")
    return title


def _check_class_name(name: str) -> str:
    name = (name or "").strip().lower()
    if name not in HUMAN_CLASS_NAMES:
        raise InvalidFieldError(
            f"Class name {name!r} is not a person class.",
            field="name",
            hint=f"Use one of: {', '.join(sorted(HUMAN_CLASS_NAMES))}.",
        )
    return name
