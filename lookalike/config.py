"""Settings, read once from the environment (prefix ``LOOKALIKE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    # A per-user directory rather than ./.lookalike: the CLI is run from many
    # working directories and a tune made in one must be visible from all.
    return Path.home() / ".lookalike"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    database_url: str | None = None
    models_dir: Path | None = None

    # Face analysis
    face_backend: str = "offline"
    detection_max_side: int = 960
    detection_threshold: float = 0.8
    min_face_px: int = 64
    min_sharpness: float = 40.0
    max_yaw: float = 0.55
    # A face whose box side is below this fraction of the largest face's side
    # is treated as a background face and ignored.
    background_face_ratio: float = 0.5

    # Uploads
    max_photos_per_tune: int = 10
    max_upload_bytes: int = 25 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    keep_originals: bool = False

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> "Settings":
        self.data_dir = self.data_dir.expanduser()
        if self.models_dir is None:
            self.models_dir = self.data_dir / "models"
        self.models_dir = self.models_dir.expanduser()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'lookalike.db'}"
        return self

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
