"""Turn the tune ids of a parsed prompt into identity embeddings.

The caller supplies ``lookup(tune_id) -> embedding`` (the tunes store in the
service, a dict in tests), so this module needs no database. ``lookup`` should
raise ``UnknownTuneError``/``TuneNotFoundError`` for a missing tune and
``TuneAccessError`` for someone else's; a plain ``KeyError`` is also taken to
mean "unknown".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lookalike.errors import IdentityEmbeddingError, UnknownTuneError
from lookalike.prompts.syntax import ParsedPrompt

Lookup = Callable[[str], "np.ndarray | None"]


@dataclass(frozen=True)
class IdentityCondition:
    tune_id: str
    embedding: np.ndarray  # float32, L2-normalised
    weight: float


def resolve_identities(parsed: ParsedPrompt, lookup: Lookup) -> list[IdentityCondition]:
    out = []
    for token in parsed.tokens:
        try:
            vector = lookup(token.tune_id)
        except KeyError as exc:
            raise _unknown(token.tune_id) from exc
        if vector is None:
            raise _unknown(token.tune_id)
        out.append(IdentityCondition(token.tune_id, l2_normalise(vector, token.tune_id), token.weight))
    dims = {c.embedding.shape[0] for c in out}
    if len(dims) > 1:
        raise IdentityEmbeddingError(
            f"The tunes in the prompt have embeddings of different sizes {sorted(dims)}; "
            "they were made with different face encoders.",
            field="text",
        )
    return out


def l2_normalise(vector, tune_id: str = "?") -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(array))
    if array.size == 0 or not np.isfinite(norm) or norm == 0.0:
        raise IdentityEmbeddingError(
            f"Tune {tune_id} has an empty or invalid identity embedding.",
            details={"tune_id": tune_id},
        )
    return array / norm


def _unknown(tune_id: str) -> UnknownTuneError:
    return UnknownTuneError(
        f"Unknown tune {tune_id!r} in the prompt text.",
        field="text",
        details={"tune_id": tune_id},
    )
