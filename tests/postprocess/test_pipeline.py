"""Choosing, ordering, checking and running the steps."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lookalike.errors import InvalidFieldError, ModelUnavailableError
from lookalike.postprocess import PostprocessFlags, StepResult, apply, build_steps, check_steps, postprocess_image
from lookalike.postprocess.models import postprocess_packs
from tests.postprocess.helpers import context_for, tune_from_photos


def test_steps_run_in_astrias_order_whatever_the_flags(settings):
    steps = build_steps(PostprocessFlags(super_resolution=True, face_correct=True, face_swap=True), settings)
    assert [s.name for s in steps] == ["face_swap", "face_correct", "super_resolution"]
    assert build_steps(PostprocessFlags(), settings) == []
    only = build_steps(PostprocessFlags.from_options({"super_resolution": True}), settings)
    assert [s.name for s in only] == ["super_resolution"]


def test_flags_read_from_an_options_object():
    class Options:
        face_correct = True

    assert PostprocessFlags.from_options(Options()) == PostprocessFlags(face_correct=True)


def test_unknown_swap_backend_is_an_invalid_setting(settings):
    with pytest.raises(InvalidFieldError) as info:
        build_steps(PostprocessFlags(face_swap=True), settings.model_copy(update={"face_swap_backend": "magic"}))
    assert info.value.field == "face_swap_backend"


def test_a_step_that_cannot_run_fails_the_check_before_any_image(settings, analyzer):
    steps = build_steps(PostprocessFlags(face_correct=True, super_resolution=True), settings)
    with pytest.raises(ModelUnavailableError) as info:
        check_steps(steps, context_for(settings, analyzer))
    assert "lookalike models pull gfpgan_v1.4" in info.value.hint
    with pytest.raises(ModelUnavailableError):
        postprocess_image(Image.new("RGB", (8, 8)), PostprocessFlags(face_correct=True), context_for(settings, analyzer))


class _Recorder:
    def __init__(self, name, skip=None):
        self.name, self.skip, self.seen = name, skip, []

    def check(self, context):
        pass

    def run(self, image, context):
        self.seen.append(image.size)
        if self.skip:
            return StepResult(image, skipped_reason=self.skip)
        return StepResult(image.resize((image.width * 2, image.height * 2)), details={"note": self.name})


def test_apply_chains_images_and_records_skips(settings, analyzer):
    first, second, third = _Recorder("a"), _Recorder("b", skip="no face"), _Recorder("c")
    image, records = apply([first, second, third], Image.new("RGB", (4, 4)), context_for(settings, analyzer))
    assert image.size == (16, 16)
    assert (first.seen, second.seen, third.seen) == ([(4, 4)], [(8, 8)], [(8, 8)])
    assert [r["status"] for r in records] == ["applied", "skipped", "applied"]
    assert records[1]["reason"] == "no face" and records[0]["note"] == "a"
    assert all(r["seconds"] >= 0 for r in records)


def test_offline_default_swap_then_upscale_end_to_end(settings, analyzer, astronaut, hopper):
    tune, _ = tune_from_photos(analyzer, [hopper])
    context = context_for(settings, analyzer, tune)
    small = np.ascontiguousarray(astronaut[56:184:4, 166:294:4])  # 32x32 around the face keeps SR quick
    flags = PostprocessFlags(face_swap=True, super_resolution=True)
    image, records = postprocess_image(Image.fromarray(small), flags, context)
    assert image.size == (128, 128)
    assert [r["step"] for r in records] == ["face_swap", "super_resolution"]
    assert records[1]["status"] == "applied"


def test_every_pack_has_a_published_digest_and_licence():
    for pack in postprocess_packs():
        assert pack.license
        for remote in pack.files:
            assert remote.sha256 and len(remote.sha256) == 64
            assert remote.url.startswith("https://")
