"""How several (embedding, weight) pairs become one FaceID input and an adapter scale."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import unit

from lookalike.errors import IdentityEmbeddingError
from lookalike.generation.identity import blend_identities


def test_single_identity_keeps_its_vector_and_weight():
    e = unit(1)
    blend = blend_identities([(e, 0.7)], expected_dim=128)
    np.testing.assert_allclose(blend.embedding, e, atol=1e-6)
    # The weight is the adapter scale; the FaceID LoRA stays at its authors' 1.0 (issue 13).
    assert blend.scale == pytest.approx(0.7) and blend.lora_scale == 1.0
    assert blend_identities([(e, 1.6)]).lora_scale == 1.0
    assert blend_identities([(e, 0.0)]).lora_scale == 0.0


def test_a_single_unit_embedding_is_passed_on_bit_for_bit():
    """As diffusers' recipe feeds insightface's normed_embedding: no renormalisation of one person."""
    e = unit(5)
    blend = blend_identities([(e, 0.8), (unit(6), 0.0)])
    assert blend.embedding.dtype == np.float32 and np.array_equal(blend.embedding, e)
    assert blend.embedding is not e  # a copy: the tune's own vector is never shared
    # Not unit length: normalised.
    np.testing.assert_allclose(blend_identities([(3 * e, 1.0)]).embedding, e, atol=1e-6)


def test_weighted_mean_is_renormalised_and_weights_set_the_mix():
    a, b = np.eye(4)[0], np.eye(4)[1]
    blend = blend_identities([(a, 1.0), (b, 0.5)])
    assert np.linalg.norm(blend.embedding) == pytest.approx(1.0)
    assert blend.embedding[0] == pytest.approx(2 * blend.embedding[1])
    assert blend.scale == 1.0


def test_zero_weights_mean_no_identity():
    assert not blend_identities([]).active
    blend = blend_identities([(unit(1), 0.0), (unit(2), 0.0)])
    assert not blend.active and blend.scale == 0.0
    # A zero-weight token does not pull the mix.
    np.testing.assert_allclose(
        blend_identities([(unit(1), 1.0), (unit(2), 0.0)]).embedding, unit(1), atol=1e-6
    )


def test_refusals():
    with pytest.raises(IdentityEmbeddingError):
        blend_identities([(unit(1, 512), 1.0)], expected_dim=128)
    with pytest.raises(IdentityEmbeddingError):
        blend_identities([(np.eye(3)[0], 1.0), (-np.eye(3)[0], 1.0)])
    with pytest.raises(IdentityEmbeddingError):
        blend_identities([(unit(1), -1.0)])
