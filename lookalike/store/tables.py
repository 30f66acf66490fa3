"""Tables (SQLAlchemy 2, typed declarative). Changes go through a new migration."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import Index, JSON, BigInteger, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class TuneRow(Base):
    __tablename__ = "tunes"
    # Ids are public and never reused, even after the newest row is deleted
    # (SQLite would otherwise hand out max(id)+1 again); migration 0005 also
    # starts them above every gallery id (lookalike.store.ids).
    __table_args__ = (
        Index("ix_tunes_account_idempotency_key", "account_id", "idempotency_key", unique=True),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Accounts arrive with the HTTP service; the CLI works as the local account.
    account_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    title: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64), default="ohwx")
    model_type: Mapped[str] = mapped_column(String(32), default="faceid")
    base_model_id: Mapped[str] = mapped_column(String(128))
    # "fast" for Astria's mock tunes; None otherwise (the API shows the base model's family).
    branch: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # A retried POST /tunes with the same Idempotency-Key returns this tune (unique per account).
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    photos: Mapped[list[PhotoRow]] = relationship(
        back_populates="tune", cascade="all, delete-orphan", order_by="PhotoRow.position"
    )
    identities: Mapped[list[IdentityRow]] = relationship(back_populates="tune", cascade="all, delete-orphan")
    # A LoRA tune's training (migration 0008); None for a FaceID tune.
    training: Mapped[TrainingRow | None] = relationship(
        back_populates="tune", cascade="all, delete-orphan", uselist=False
    )


class PhotoRow(Base):
    """One uploaded photo's face: where it was, how good it is, its crops."""

    __tablename__ = "tune_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tune_id: Mapped[int] = mapped_column(ForeignKey("tunes.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str | None] = mapped_column(String(255), nullable=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    box: Mapped[dict] = mapped_column(JSON)
    landmarks: Mapped[list] = mapped_column(JSON)
    quality: Mapped[dict] = mapped_column(JSON)
    ignored_faces: Mapped[int] = mapped_column(Integer, default=0)
    crop_key: Mapped[str] = mapped_column(String(512))
    large_crop_key: Mapped[str] = mapped_column(String(512))
    original_key: Mapped[str | None] = mapped_column(String(512), nullable=True)

    tune: Mapped[TuneRow] = relationship(back_populates="photos")
    embeddings: Mapped[list[EmbeddingRow]] = relationship(back_populates="photo", cascade="all, delete-orphan")


class EmbeddingRow(Base):
    """A photo's face embedding for one encoder (float32 bytes)."""

    __tablename__ = "photo_embeddings"
    __table_args__ = (UniqueConstraint("photo_id", "encoder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("tune_photos.id", ondelete="CASCADE"), index=True)
    encoder: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)

    photo: Mapped[PhotoRow] = relationship(back_populates="embeddings")


class IdentityRow(Base):
    """The tune's identity for one encoder: the L2-normalised mean of its photos."""

    __tablename__ = "tune_identities"
    __table_args__ = (UniqueConstraint("tune_id", "encoder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tune_id: Mapped[int] = mapped_column(ForeignKey("tunes.id", ondelete="CASCADE"), index=True)
    encoder: Mapped[str] = mapped_column(String(64))
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    # Lowest similarity of a photo to the mean: how consistent the photos are.
    min_similarity: Mapped[float] = mapped_column(Float)

    tune: Mapped[TuneRow] = relationship(back_populates="identities")


class TrainingRow(Base):
    """A LoRA tune's training job: queue state, lease, live progress, last checkpoint, result (migration 0008).

    Written first with the tune (queued, with its resolved plan), then only by
    the training queue (jobs/trainings.py), through conditional UPDATEs as the
    prompt queue does. Deleting the tune deletes this row, which is how a
    running training learns it was cancelled.
    """

    __tablename__ = "tune_trainings"

    tune_id: Mapped[int] = mapped_column(ForeignKey("tunes.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued, training, succeeded, failed
    # The resolved training settings (training/plan.py), fixed at create so a resume runs the same plan.
    plan: Mapped[dict] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    checkpoint_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    checkpoint_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The trained LoRA (kohya layout .safetensors) and its sha256.
    lora_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    lora_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The tune's callback, POSTed when the training ends (a FaceID tune's goes out at create).
    callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    tune: Mapped[TuneRow] = relationship(back_populates="training")


# --- HTTP service: accounts, keys, prompt jobs, callback outbox (migration 0002) ---


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    # Keys the HMAC on this account's callbacks; shown once when the account is made.
    callback_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKeyRow(Base):
    """An API key, stored only as the sha256 of the key (the key has 256 random bits)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PromptRow(Base):
    """A generation job and, once done, its result. The queue is this table (FIFO by id)."""

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("account_id", "idempotency_key"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    # The id in the URL it was posted to: a FaceID tune or a base model's gallery id.
    tune_id: Mapped[int] = mapped_column(Integer, index=True)
    base_model_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    text: Mapped[str] = mapped_column(String(8000))
    negative_prompt: Mapped[str] = mapped_column(String(8000), default="")
    options: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    callback: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    trained_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Celery mode (migration 0003): last hand-over to the broker, and the
    # running worker's claim (renewed while it runs; a lapsed one may be taken).
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Live progress of a running prompt (migration 0007), written by its
    # worker (jobs/progress.py) and cleared when it finishes; null otherwise.
    progress: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)

    images: Mapped[list[PromptImageRow]] = relationship(
        back_populates="prompt", cascade="all, delete-orphan", order_by="PromptImageRow.position"
    )


class PromptImageRow(Base):
    __tablename__ = "prompt_images"
    __table_args__ = (UniqueConstraint("prompt_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    blob_key: Mapped[str] = mapped_column(String(512))
    seed: Mapped[int] = mapped_column(BigInteger)  # seeds reach 2**32 - 1
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    identity_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    # e.g. "face_swap skipped (no realistic face); super_resolution applied"; None when no step was asked for.
    postprocess: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Several people (migration 0009): per person, {"tune_id", "score", "box"}; None with one person.
    identity_scores: Mapped[list | None] = mapped_column(JSON(none_as_null=True), nullable=True)

    prompt: Mapped[PromptRow] = relationship(back_populates="images")


class CallbackRow(Base):
    """The callback outbox: written with the event, delivered (and retried) after."""

    __tablename__ = "callbacks"
    # Receivers drop repeats by delivery id (X-Lookalike-Delivery): never reused.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(Integer, index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event: Mapped[str] = mapped_column(String(32))  # "tune" or "prompt"
    object_id: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ServerSecretRow(Base):
    """Secrets every process on this database must share, made once (migration 0005): the URL signing key."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
