"""Create, read and delete tunes. The only writer of tune rows and tune blobs (a LoRA's training writes its own)."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, selectinload, sessionmaker

from lookalike.catalog.base_models import DEFAULT_BASE_MODEL_ID, get_base_model
from lookalike.errors import (
    BlobStoreError,
    IdempotencyKeyReusedError,
    InvalidFieldError,
    NoPhotosError,
    NotALoraTuneError,
    TooManyPhotosError,
    TuneNotFoundError,
    TuneNotTrainedError,
    TuneTrainingFailedError,
)
from lookalike.faces.align import LARGE_TEMPLATE, align_224, large_to_224
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.backends.base import FaceEncoder
from lookalike.faces.compare import mean_identity
from lookalike.faces.decode import decode_image
from lookalike.fileio import atomic_write_bytes
from lookalike.store.blobs import BlobStore
from lookalike.store.orphans import chunks, numbered_folders, remove_stale
from lookalike.store.tables import EmbeddingRow, IdentityRow, PhotoRow, TrainingRow, TuneRow, utcnow
from lookalike.tunes.identity import build_identity
from lookalike.tunes.photo_check import CheckedPhoto, PhotoInput, PhotoLimits, check_photo
from lookalike.tunes.training_photos import face_centred_square
from lookalike.tunes.views import tune_to_dict

# FaceID conditions on a human face; other Astria classes (dog, style, ...)
# have no face to find. Extend by setting, not by code, if a user needs more.
HUMAN_CLASS_NAMES = frozenset({"man", "woman", "boy", "girl", "person", "male", "female", "child", "baby"})
MAX_TITLE_LENGTH = 255
# Astria's default token for SD 1.5 is "sks" and for SDXL "ohwx"; FaceID does not use it, so one default for all.
DEFAULT_TOKEN = "ohwx"
# Astria's mock mode: a tune and prompts for testing an integration, no model loaded.
MOCK_BRANCH = "fast"
MOCK_PHOTO_SIDE = 512
FACEID, LORA = "faceid", "lora"
# A LoRA tune's training job, as the training queue (jobs/trainings.py) moves it.
TRAINING_QUEUED, TRAINING_RUNNING, TRAINING_SUCCEEDED, TRAINING_FAILED = "queued", "training", "succeeded", "failed"


def train_photo_key(tune_id: int, position: int) -> str:
    """A LoRA tune's training picture of photo ``position`` (tunes/training_photos.py)."""
    return f"tunes/{tune_id}/train/photo-{position}.png"


@dataclass
class TuneService:
    sessions: sessionmaker[Session]
    blobs: BlobStore
    # Called on first need: reads (the API's GETs during warm-up) never wait for the face models.
    load_analyzer: Callable[[], FaceAnalyzer]
    photo_limits: PhotoLimits
    max_photos: int
    keep_originals: bool = False
    # Tune creation is CPU-bound (detection, embedding): at most this many at once.
    max_concurrent: int = 1
    _locks: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _analyzer_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _title_locks: dict[tuple[int | None, str], threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _slots: threading.BoundedSemaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._slots = threading.BoundedSemaphore(max(1, self.max_concurrent))

    @property
    def analyzer(self) -> FaceAnalyzer:
        # One loader at a time: two request threads must not load the models twice.
        with self._analyzer_lock:
            return self.load_analyzer()

    def check_photo(self, index: int, photo: PhotoInput) -> CheckedPhoto:
        """One photo's check, exactly as ``create`` runs it on each photo (a typed error when refused)."""
        with self._slots:
            return check_photo(index, photo, self.analyzer, self.photo_limits)

    def create_keyed(self, *, idempotency_key: str, request_hash: str, **create: Any) -> tuple[dict, bool]:
        """A create that a client may retry: the same Idempotency-Key returns the first tune; (tune, created).

        The same key with a different request (other photos, title...) is an
        error, not a replay, so a client bug cannot hand back the wrong tune.
        """
        account_id = create.get("account_id")
        with self._lock_for((account_id, "\0key:" + idempotency_key)):
            existing = self.find_replay(account_id=account_id, key=idempotency_key, request_hash=request_hash)
            if existing is not None:
                return existing, False
            try:
                return self.create(idempotency_key=idempotency_key, request_hash=request_hash, **create), True
            except IntegrityError:
                # Another API server committed the same key first (the unique index): that tune is the answer.
                existing = self.find_replay(account_id=account_id, key=idempotency_key, request_hash=request_hash)
                if existing is None:
                    raise
                return existing, False

    def find_replay(self, *, account_id: int | None, key: str, request_hash: str) -> dict | None:
        """The tune made with ``key``, if any; an error when it was made from another request."""
        found = self.find_by_idempotency_key(account_id=account_id, key=key)
        if found is None:
            return None
        if found["request_hash"] != request_hash:
            raise IdempotencyKeyReusedError(
                "This Idempotency-Key was used for a different tune.", details={"tune_id": found["tune"]["id"]}
            )
        return found["tune"]

    def _lock_for(self, key: tuple[int | None, str]) -> threading.Lock:
        """One lock per account and title (or key): two identical creates at once make one tune."""
        with self._locks:
            return self._title_locks.setdefault(key, threading.Lock())

    def create_once(self, *, title: str, **create: Any) -> tuple[dict, bool]:
        """Astria's idempotent create: the title is the key; (tune, created).

        A repeated title returns the first tune; two identical requests at
        once make one tune (a lock per account and title). Used when
        ``LOOKALIKE_TUNE_TITLE_IDEMPOTENT`` is on, as Astria's per-account
        idempotency setting is when enabled.
        """
        account_id = create.get("account_id")
        with self._lock_for((account_id, (title or "").strip())):
            existing = self.find_by_title(account_id=account_id, title=title)
            if existing is not None:
                return existing, False
            return self.create(title=title, **create), True

    # -- create -----------------------------------------------------------

    def create(
        self,
        *,
        title: str,
        name: str,
        photos: Sequence[PhotoInput],
        base_model: str | int | None = None,
        account_id: int | None = None,
        token: str | None = None,
        branch: str | None = None,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        model_type: str = FACEID,
        training_plan: dict[str, Any] | None = None,
        training_callback: str | None = None,
    ) -> dict:
        """Check every photo, then store the tune in one go.

        Nothing is written until every photo has passed, and a failure while
        writing removes what was written, so a rejected tune leaves nothing.
        ``branch="fast"`` makes Astria's mock tune: photos are only decoded
        (no face model is loaded) and its prompts get placeholder images.
        ``model_type="lora"`` with its ``training_plan`` (training/plan.py, as a
        dict) makes a LoRA tune: the same checks and crops as a FaceID tune,
        plus each photo's training picture, and its training queued (not
        trained yet: ``trained_at`` stays null until a worker finishes it). A
        mock LoRA tune is trained at once, with no file.
        """
        mock = branch == MOCK_BRANCH
        lora = model_type == LORA
        if lora and training_plan is None:
            raise ValueError("a LoRA tune needs its training plan")
        title = _check_title(title)
        name = _check_mock_class(name) if mock else _check_class_name(name)
        spec = get_base_model(base_model if base_model not in (None, "") else DEFAULT_BASE_MODEL_ID)
        self._check_count(photos)
        if lora:
            token = training_plan["token"]
        row = TuneRow(
            account_id=account_id,
            title=title,
            name=name,
            token=(token or DEFAULT_TOKEN).strip()[:64] or DEFAULT_TOKEN,
            model_type=LORA if lora else FACEID,
            base_model_id=spec.id,
            branch=MOCK_BRANCH if mock else None,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
        )
        if lora:
            row.training = TrainingRow(
                status=TRAINING_SUCCEEDED if mock else TRAINING_QUEUED,
                plan=dict(training_plan),
                attempts=0,
                callback=None if mock else training_callback,
            )
        with self._slots:
            if mock:
                return self._store(row, self._decoded(photos), None)
            checked = [check_photo(i, p, self.analyzer, self.photo_limits) for i, p in enumerate(photos)]
            encoder = self.analyzer.encoder.name
            identity = build_identity(encoder, [c.face.embeddings[encoder] for c in checked])
            train_size = int(training_plan["resolution"]) if lora else None
            return self._store(row, [(c, photos[c.index]) for c in checked], (encoder, identity), train_size)

    def check_count(self, count: int) -> None:
        """Refuse a photo count a tune cannot have, before any photo is read or fetched."""
        self._check_count([None] * count)

    def _check_count(self, photos: Sequence[PhotoInput | None]) -> None:
        if not photos:
            raise NoPhotosError("A tune needs at least one photo.", field="images")
        if len(photos) > self.max_photos:
            raise TooManyPhotosError(
                f"{len(photos)} photos given; a tune takes at most {self.max_photos}.",
                field="images",
                hint=f"Pick the {self.max_photos} best photos.",
            )

    def _decoded(self, photos: Sequence[PhotoInput]) -> list[tuple[np.ndarray, PhotoInput]]:
        limits = self.photo_limits
        return [
            (decode_image(p.data, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes, image_index=i), p)
            for i, p in enumerate(photos)
        ]

    def _store(self, tune: TuneRow, photos: list, identity: tuple | None, train_size: int | None = None) -> dict:
        """Write the row, its photos and identity in one transaction; a failure leaves no row and no files."""
        with self.sessions() as session:
            now = utcnow()
            tune.created_at = tune.updated_at = now
            # A FaceID tune (and any mock) is ready at once; a LoRA tune when its training ends.
            tune.trained_at = None if train_size is not None else now
            if tune.training is not None:
                tune.training.created_at = tune.training.updated_at = now
                if tune.training.status == TRAINING_SUCCEEDED:
                    tune.training.finished_at = now
            session.add(tune)
            session.flush()
            prefix = f"tunes/{tune.id}"
            try:
                # Only files of a create that never committed can be here: SQLite
                # hands out a rolled-back insert's id again (a process killed
                # before its commit), so the next create starts from a clean folder.
                self.blobs.delete_prefix(prefix)
                if identity is None:
                    for index, (pixels, photo) in enumerate(photos):
                        tune.photos.append(self._store_plain_photo(prefix, index, pixels, photo))
                else:
                    encoder, built = identity
                    for c, photo in photos:
                        tune.photos.append(self._store_photo(prefix, c, photo, encoder))
                        if train_size is not None:
                            square = face_centred_square(c.image, c.face.detection.box, train_size)
                            self.blobs.put(train_photo_key(tune.id, c.index), _png(square))
                    tune.identities.append(
                        IdentityRow(
                            encoder=encoder,
                            dim=int(built.vector.size),
                            vector=built.vector.astype(np.float32).tobytes(),
                            min_similarity=built.min_similarity,
                        )
                    )
                session.commit()
            except BaseException:
                session.rollback()
                self.blobs.delete_prefix(prefix)
                raise
            return tune_to_dict(tune)

    def _store_plain_photo(self, prefix: str, index: int, pixels: np.ndarray, photo: PhotoInput) -> PhotoRow:
        """A mock tune's photo: kept small for ``orig_images``; no face, no embedding."""
        thumbnail = Image.fromarray(pixels)
        thumbnail.thumbnail((MOCK_PHOTO_SIDE, MOCK_PHOTO_SIDE))
        key = f"{prefix}/photo-{index}-plain.png"
        self.blobs.put(key, _png(np.asarray(thumbnail)))
        return PhotoRow(
            position=index,
            filename=(photo.filename or None) and photo.filename[:255],
            width=int(pixels.shape[1]),
            height=int(pixels.shape[0]),
            box={},
            landmarks=[],
            quality={},
            ignored_faces=0,
            crop_key=key,
            large_crop_key=key,
            original_key=None,
            embeddings=[],
        )

    def _store_photo(self, prefix: str, c: CheckedPhoto, photo: PhotoInput, encoder: str) -> PhotoRow:
        crop_key = f"{prefix}/photo-{c.index}-crop112.png"
        large_key = f"{prefix}/photo-{c.index}-crop{c.face.crop_large.shape[0]}.png"
        self.blobs.put(crop_key, _png(c.face.crop_112))
        self.blobs.put(large_key, _png(c.face.crop_large))
        # FaceID PlusV2's CLIP input, cut from the photo now: the photo itself is not kept.
        self.blobs.put(plus_crop_key(prefix, c.index), _png(align_224(c.image, c.face.detection.landmarks)))
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

    def list(
        self, *, account_id: int | None = None, limit: int = 20, offset: int = 0, before_id: int | None = None
    ) -> list[dict]:
        """Newest first; ``before_id`` pages by id (Astria's cursor)."""
        query = select(TuneRow).where(_owned_by(account_id))
        if before_id is not None:
            query = query.where(TuneRow.id < before_id)
        query = query.options(*_FULL).order_by(TuneRow.id.desc()).limit(limit).offset(offset)
        with self.sessions() as session:
            return _with_queue_positions(session, [tune_to_dict(t) for t in session.scalars(query)])

    def get(self, tune_id: int, *, account_id: int | None = None) -> dict:
        with self.sessions() as session:
            return _with_queue_positions(session, [tune_to_dict(self._load(session, tune_id, account_id))])[0]

    def find(self, tune_id: int, *, account_id: int | None = None) -> dict | None:
        """The caller's tune, or None when it is missing or another account's."""
        try:
            return self.get(tune_id, account_id=account_id)
        except TuneNotFoundError:
            return None

    def find_by_idempotency_key(self, *, account_id: int | None, key: str) -> dict | None:
        """``{"tune", "request_hash"}`` of the tune made with this key, or None."""
        with self.sessions() as session:
            row = session.scalar(
                select(TuneRow).where(_owned_by(account_id), TuneRow.idempotency_key == key).options(*_FULL)
            )
            return None if row is None else {"tune": tune_to_dict(row), "request_hash": row.request_hash}

    def find_by_title(self, *, account_id: int | None, title: str) -> dict | None:
        with self.sessions() as session:
            row = session.scalar(
                select(TuneRow)
                .where(_owned_by(account_id), TuneRow.title == (title or "").strip())
                .options(*_FULL)
                .order_by(TuneRow.id)
                .limit(1)
            )
            return None if row is None else tune_to_dict(row)

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

    def photo(self, tune_id: int, position: int) -> bytes:
        """A tune photo for its signed link: the upload if kept, else its aligned crop (PNG).

        No account check: only a link the server signed reaches here.
        """
        with self.sessions() as session:
            row = session.scalar(select(PhotoRow).where(PhotoRow.tune_id == tune_id, PhotoRow.position == position))
            if row is None:
                raise TuneNotFoundError(f"Tune {tune_id} has no photo {position}.", details={"tune_id": tune_id})
            key = row.original_key or row.large_crop_key
        return self.blobs.get(key)

    # -- LoRA tunes ---------------------------------------------------------------

    def training_pictures(self, tune_id: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """A LoRA tune's training pictures and its aligned crops (RGB uint8), in photo order.

        No account check: only the training queue, which holds the tune's claim, calls it.
        """
        with self.sessions() as session:
            tune = self._load(session, tune_id, None, any_account=True)
            positions = [(photo.position, photo.large_crop_key) for photo in tune.photos]
        squares = [_rgb(self.blobs.get(train_photo_key(tune_id, position))) for position, _ in positions]
        crops = [_rgb(self.blobs.get(key)) for _, key in positions]
        return squares, crops

    def lora_file(self, tune_id: int, *, account_id: int | None, cache_dir: Path) -> Path:
        """A local path to the tune's trained LoRA, for the engine to load.

        With local blobs, the blob itself; otherwise (S3) a copy under
        ``cache_dir`` named by the tune and the file's digest, downloaded once
        and checked against the digest; a newer file of the same tune (none
        today: a tune trains once) replaces older copies.
        """
        key, file_digest = self._trained_lora(tune_id, account_id)
        local = getattr(self.blobs, "local_path", None)
        if local is not None:
            path = Path(local(key))
            if path.is_file():
                return path
        cache_dir = Path(cache_dir)
        cached = cache_dir / f"tune_{tune_id}-{file_digest[:16]}.safetensors"
        if cached.is_file():
            return cached
        data = self.blobs.get(key)
        if hashlib.sha256(data).hexdigest() != file_digest:
            raise BlobStoreError(
                f"The LoRA file of tune {tune_id} in the blob store does not match its digest.",
                details={"tune_id": tune_id, "key": key},
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        for stale in cache_dir.glob(f"tune_{tune_id}-*.safetensors"):
            stale.unlink(missing_ok=True)
        atomic_write_bytes(cached, data)
        return cached

    def lora_bytes(self, tune_id: int, *, account_id: int | None = None, any_account: bool = False) -> bytes:
        """The trained LoRA file (kohya layout) for download; ``any_account`` for a signed link."""
        key, _ = self._trained_lora(tune_id, account_id, any_account=any_account)
        return self.blobs.get(key)

    def _trained_lora(self, tune_id: int, account_id: int | None, *, any_account: bool = False) -> tuple[str, str]:
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id, any_account=any_account)
            training = tune.training
            if training is None:
                raise NotALoraTuneError(
                    f"Tune {tune_id} is a {tune.model_type} tune; it has no LoRA.", details={"tune_id": tune_id}
                )
            if training.status == TRAINING_FAILED:
                raise TuneTrainingFailedError(
                    f"Tune {tune_id}'s training failed; it has no LoRA.",
                    details={"tune_id": tune_id, "error": training.error},
                )
            if training.status != TRAINING_SUCCEEDED or not training.lora_key:
                raise TuneNotTrainedError(
                    f"Tune {tune_id} is not trained yet ({training.status}).",
                    details={"tune_id": tune_id, "status": training.status},
                )
            return training.lora_key, training.lora_digest or ""

    def large_crops(self, tune_id: int, *, account_id: int | None = None) -> list[np.ndarray]:
        """The tune's kept aligned crops (LARGE_TEMPLATE, RGB uint8), in photo order: face swap's sources."""
        with self.sessions() as session:
            keys = [photo.large_crop_key for photo in self._load(session, tune_id, account_id).photos]
        return [np.asarray(Image.open(io.BytesIO(self.blobs.get(key))).convert("RGB")) for key in keys]

    def plus_crop(self, tune_id: int, *, account_id: int | None = None) -> np.ndarray:
        """FaceID PlusV2's 224x224 face crop of the tune's most typical photo (RGB uint8).

        The photo whose offline embedding is closest to the tune's identity
        stands for the tune (the recipe takes one face image). Tunes made
        before the 224 crop was kept get it re-cut from their 256 crop.
        """
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id)
            photos = list(tune.photos)
            identity = next((row for row in tune.identities), None)
            chosen = photos[0]
            if identity is not None:
                mean = np.frombuffer(identity.vector, dtype=np.float32)
                scored = []
                for photo in photos:
                    row = next((e for e in photo.embeddings if e.encoder == identity.encoder), None)
                    if row is not None:
                        scored.append((float(np.dot(np.frombuffer(row.vector, dtype=np.float32), mean)), photo.position))
                if scored:
                    best = max(scored)[1]
                    chosen = next(p for p in photos if p.position == best)
            position, large_key = chosen.position, chosen.large_crop_key
        key = plus_crop_key(f"tunes/{tune_id}", position)
        if self.blobs.exists(key):
            return np.asarray(Image.open(io.BytesIO(self.blobs.get(key))).convert("RGB"))
        large = np.asarray(Image.open(io.BytesIO(self.blobs.get(large_key))).convert("RGB"))
        return large_to_224(large)

    def _load(self, session: Session, tune_id: int, account_id: int | None, *, any_account: bool = False) -> TuneRow:
        tune = session.get(TuneRow, tune_id, options=list(_FULL))
        # Another account's tune is reported exactly like a missing one, so ids
        # reveal nothing about other accounts.
        if tune is None or (tune.account_id != account_id and not any_account):
            raise TuneNotFoundError(f"There is no tune {tune_id}.", details={"tune_id": tune_id})
        return tune

    def update(self, tune_id: int, *, account_id: int | None, title: str | None = None, name: str | None = None) -> dict:
        """Rename a tune or change its class name; the photos and identity stay."""
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id)
            if title is not None:
                tune.title = _check_title(title)
            if name is not None:
                if tune.model_type == LORA and name.strip().lower() != tune.name:
                    raise InvalidFieldError(
                        "A LoRA tune's class name is part of its training caption and cannot change.",
                        field="name",
                        hint="Make a new tune with the other class name.",
                    )
                tune.name = _check_mock_class(name) if tune.branch == MOCK_BRANCH else _check_class_name(name)
            tune.updated_at = utcnow()
            session.commit()
            return tune_to_dict(self._load(session, tune_id, account_id))

    # -- delete -------------------------------------------------------------

    def delete(self, tune_id: int, *, account_id: int | None = None) -> None:
        with self.sessions() as session:
            tune = self._load(session, tune_id, account_id)
            session.delete(tune)
            session.commit()
        # Rows first: a crash between the two leaves orphan files (removed by
        # sweep_orphan_blobs at the next start), never rows pointing at missing files.
        self.blobs.delete_prefix(f"tunes/{tune_id}")


    def sweep_orphan_blobs(self, *, grace_s: float) -> list[str]:
        """Remove ``tunes/{id}`` folders that no tune row claims; the folders removed.

        A process killed between writing the crops and the commit (create), or
        between the commit and removing the files (delete), leaves them. Kept:
        folders changed within ``grace_s`` (a create in progress elsewhere has
        no committed row yet), and ids from the newest tune's on (SQLite gives
        an uncommitted id out again, and the create that reuses it clears the
        folder itself; a database that never had these ids, such as a fresh one
        pointed at an old bucket, must not empty it).
        """
        folders = numbered_folders(self.blobs, "tunes")
        if not folders:
            return []
        ids = sorted(folders)
        with self.sessions() as session:
            newest = session.scalar(select(func.max(TuneRow.id)))
            if newest is None:
                return []
            claimed = set()
            for chunk in chunks(ids):
                claimed.update(session.scalars(select(TuneRow.id).where(TuneRow.id.in_(chunk))))
        unclaimed = [folders[i] for i in ids if i < newest and i not in claimed]
        return remove_stale(self.blobs, unclaimed, grace_s=grace_s)


_FULL = (selectinload(TuneRow.photos), selectinload(TuneRow.identities), selectinload(TuneRow.training))


def plus_crop_key(prefix: str, position: int) -> str:
    return f"{prefix}/photo-{position}-crop224.png"


def _with_queue_positions(session: Session, tunes: list[dict]) -> list[dict]:
    """Each queued LoRA training's place in line (1: next), computed now, as prompts' are."""
    queued = [t["id"] for t in tunes if t["training"] is not None and t["training"]["status"] == TRAINING_QUEUED]
    if not queued:
        return tunes
    ahead = aliased(TrainingRow)
    count = (
        select(func.count())
        .where(ahead.status == TRAINING_QUEUED, ahead.tune_id < TrainingRow.tune_id)
        .correlate(TrainingRow)
        .scalar_subquery()
    )
    positions = dict(session.execute(select(TrainingRow.tune_id, count).where(TrainingRow.tune_id.in_(queued))).all())
    for tune in tunes:
        if tune["id"] in positions:
            tune["training"]["queue_position"] = int(positions[tune["id"]]) + 1
    return tunes


def _owned_by(account_id: int | None):
    # Local (CLI) tunes have no account; an account never sees them, nor they an account's.
    return TuneRow.account_id.is_(None) if account_id is None else TuneRow.account_id == account_id


def _rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


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


def _check_mock_class(name: str) -> str:
    # A mock tune has no face to find, so any class Astria takes (a cat, a style) is fine.
    name = (name or "").strip().lower()
    if not name or len(name) > 64:
        raise InvalidFieldError("The tune needs a class name (e.g. woman), at most 64 characters.", field="name")
    return name


def _check_class_name(name: str) -> str:
    name = (name or "").strip().lower()
    if name not in HUMAN_CLASS_NAMES:
        raise InvalidFieldError(
            f"Class name {name!r} is not a person class.",
            field="name",
            hint=f"Use one of: {', '.join(sorted(HUMAN_CLASS_NAMES))}.",
        )
    return name
