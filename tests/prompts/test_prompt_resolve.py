"""Resolving tune ids to embeddings through a caller-supplied lookup."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.errors import IdentityEmbeddingError, TuneAccessError, TuneNotFoundError, UnknownTuneError
from lookalike.prompts import parse_prompt, resolve_identities


def _lookup(table):
    def lookup(tune_id):
        if tune_id == "secret":
            raise TuneAccessError("Tune 'secret' belongs to someone else.")
        return table[tune_id]

    return lookup


def test_resolves_and_normalises():
    table = {"1": np.array([3.0, 4.0]), "2": [0.0, 2.0]}
    out = resolve_identities(parse_prompt("<faceid:1:0.5> <faceid:2> x"), _lookup(table))
    assert [(c.tune_id, c.weight) for c in out] == [("1", 0.5), ("2", 1.0)]
    np.testing.assert_allclose(out[0].embedding, [0.6, 0.8], rtol=1e-6)
    assert out[1].embedding.dtype == np.float32


def test_unknown_tune_from_key_error_or_none():
    with pytest.raises(UnknownTuneError) as info:
        resolve_identities(parse_prompt("<faceid:9> x"), _lookup({}))
    assert info.value.code == "unknown_tune" and "9" in info.value.message
    with pytest.raises(UnknownTuneError):
        resolve_identities(parse_prompt("<faceid:9> x"), lambda _id: None)


def test_lookup_errors_pass_through_with_their_codes():
    with pytest.raises(TuneAccessError) as info:
        resolve_identities(parse_prompt("<faceid:secret> x"), _lookup({}))
    assert info.value.code == "tune_forbidden"

    def missing(tune_id):
        raise TuneNotFoundError(f"no tune {tune_id}")

    with pytest.raises(TuneNotFoundError):
        resolve_identities(parse_prompt("<faceid:5> x"), missing)


def test_bad_embeddings_are_refused():
    with pytest.raises(IdentityEmbeddingError):
        resolve_identities(parse_prompt("<faceid:1> x"), lambda _id: np.zeros(4))
    with pytest.raises(IdentityEmbeddingError):
        resolve_identities(parse_prompt("<faceid:1> <faceid:2> x"), lambda i: np.ones(4 if i == "1" else 8))
