"""ControlNets as data: every Astria type offered or refused with a reason, pinned packs, lookup by family."""

from __future__ import annotations

import re

import pytest

from lookalike.catalog.base_models import get_base_model
from lookalike.catalog.controlnets import (
    ASTRIA_CONTROLNETS,
    CONTROLNETS,
    NOT_OFFERED,
    PREPROCESSORS,
    controlnet_for,
    controlnet_packs,
    offered_kinds,
)
from lookalike.catalog.files import HubFile

# Repos for which no published commit was found (docs/GENERATION.md, "ControlNets").
UNPINNED_REPOS = {
    "lllyasviel/control_v11p_sd15_mlsd",
    "diffusers/controlnet-canny-sdxl-1.0",
    "xinsir/controlnet-openpose-sdxl-1.0",
    "diffusers/controlnet-depth-sdxl-1.0",
}


def test_every_astria_type_is_offered_or_refused_with_a_reason():
    offered = set(offered_kinds())
    assert offered == set(PREPROCESSORS) and not offered & set(NOT_OFFERED)
    assert offered | set(NOT_OFFERED) == set(ASTRIA_CONTROLNETS)
    assert {"canny", "pose"} <= offered and all(NOT_OFFERED[k].strip() for k in NOT_OFFERED)
    assert set(offered_kinds("sdxl")) == {"canny", "pose", "depth"}


def test_packs_are_the_repos_config_and_weights_pinned_with_honest_digests():
    for spec in CONTROLNETS:
        files = spec.pack.files
        assert [f.filename for f in files][0] == "config.json" and len(files) == 2
        assert files[1].filename.startswith("diffusion_pytorch_model.")
        for remote in files:
            assert isinstance(remote, HubFile)
            assert f"/resolve/{remote.revision}/{remote.filename}" in remote.url
            assert remote.path == f"hub/{remote.repo_id}/{remote.filename}"
            assert remote.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", remote.sha256)
            if remote.repo_id in UNPINNED_REPOS:
                assert remote.revision == "main"
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", remote.revision), remote.repo_id
    by_id = {pack.id: pack for pack in controlnet_packs()}
    assert by_id["control_v11p_sd15_canny"].files[1].sha256.startswith("be713fb9")
    assert len(by_id) == len(CONTROLNETS)


@pytest.mark.parametrize(
    ("base", "kind", "pack"),
    [
        ("realistic-vision-v5-1", "canny", "control_v11p_sd15_canny"),
        ("sd-1-5", "pose", "control_v11p_sd15_openpose"),
        ("sd-1-5", "hed", "control_v11p_sd15_softedge"),
        ("sdxl-base-1-0", "pose", "controlnet-openpose-sdxl-1.0"),
        ("sdxl-base-1-0", "lineart", None),
        ("sd-1-5", "segroom", None),
        ("tiny", "canny", "tiny-controlnet-canny"),
    ],
)
def test_lookup_is_by_the_base_models_family(base, kind, pack):
    found = controlnet_for(get_base_model(base), kind)
    assert (found.id if found else None) == pack
    if found is not None:
        assert found.family == get_base_model(base).family
        assert found.builtin == (base == "tiny")


def test_models_list_and_pull_know_the_packs():
    from lookalike.cli.models_cmd import _all_packs

    ids = {pack.id for pack in _all_packs()}
    assert {"control_v11p_sd15_canny", "control_v11p_sd15_openpose", "mediapipe_pose"} <= ids


def test_pose_models_pulled_are_preferred_and_checked(tmp_path):
    from lookalike.control.pose.models import MEDIAPIPE_POSE, find_pose_models
    from lookalike.errors import ModelIntegrityError

    installed = find_pose_models(None)  # the copy inside the installed wheel, checked against the pack's digests
    assert [p.name for p in installed] == ["pose_detection.tflite", "pose_landmark_full.tflite"]
    for remote, source in zip(MEDIAPIPE_POSE.files, installed, strict=True):
        (tmp_path / remote.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / remote.path).write_bytes(source.read_bytes())
    assert find_pose_models(tmp_path)[0] == tmp_path / MEDIAPIPE_POSE.files[0].path
    (tmp_path / MEDIAPIPE_POSE.files[1].path).write_bytes(b"another model")
    with pytest.raises(ModelIntegrityError):
        find_pose_models(tmp_path)
