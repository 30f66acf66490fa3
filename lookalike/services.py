"""The composition root: builds each service once from the settings.

Everything that needs a database, blob store or model gets it from here, so
tests can build the same graph on a temporary directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lookalike.config import Settings
from lookalike.faces.analyzer import FaceAnalyzer
from lookalike.faces.backends.base import FaceEncoder
from lookalike.store.blobs import BlobStore, open_blob_store
from lookalike.store.database import make_engine, migrate, session_factory
from lookalike.tunes.photo_check import PhotoLimits
from lookalike.tunes.service import TuneService


@dataclass
class Services:
    settings: Settings
    engine: Engine = field(init=False)
    sessions: sessionmaker[Session] = field(init=False)
    blobs: BlobStore = field(init=False)
    _encoders: dict[str, FaceEncoder] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(self.settings.database_url)
        migrate(self.engine)
        self.sessions = session_factory(self.engine)
        self.blobs = open_blob_store(self.settings)

    @cached_property
    def analyzer(self) -> FaceAnalyzer:
        from lookalike.faces.backends.registry import cached_analyzer

        return cached_analyzer(self.settings)

    @cached_property
    def generator(self):
        """The generation engine (imports torch when first used, not before)."""
        from lookalike.generation.engine import Engine

        return Engine(self.settings)

    def face_encoder(self, name: str) -> FaceEncoder:
        """The face encoder called ``name``: the analyzer's own, or buffalo_l for real adapters."""
        if name == self.analyzer.encoder.name:
            return self.analyzer.encoder
        if name not in self._encoders:
            from lookalike.errors import ModelUnavailableError

            if name != "buffalo_l":
                raise ModelUnavailableError(f"No face encoder called {name!r} is known.")
            from lookalike.faces.backends.insightface import load_buffalo_l

            self._encoders[name] = load_buffalo_l(self.settings.models_dir)[1]
        return self._encoders[name]

    @cached_property
    def tunes(self) -> TuneService:
        return TuneService(
            sessions=self.sessions,
            blobs=self.blobs,
            analyzer=self.analyzer,
            photo_limits=PhotoLimits(
                max_pixels=self.settings.max_image_pixels,
                max_bytes=self.settings.max_upload_bytes,
                background_face_ratio=self.settings.background_face_ratio,
            ),
            max_photos=self.settings.max_photos_per_tune,
            keep_originals=self.settings.keep_originals,
        )

    def close(self) -> None:
        self.engine.dispose()
