"""Tune creation on real faces, through the library."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select

from lookalike.errors import (
    FaceNotFrontalError,
    FaceTooBlurryError,
    FaceTooSmallError,
    IdentityMismatchError,
    ImageTooLargeError,
    InvalidFieldError,
    InvalidImageError,
    MultipleFacesError,
    NoFaceError,
    NoPhotosError,
    TooManyPhotosError,
    TuneNotFoundError,
    UnknownBaseModelError,
)
from lookalike.store.tables import EmbeddingRow, IdentityRow, PhotoRow, TuneRow
from lookalike.tunes.photo_check import PhotoInput
from tests.photos import blurred, brighter, jpeg, shrunk, two_people, with_background_face


def _count(services, table) -> int:
    with services.sessions() as s:
        return s.scalar(select(func.count()).select_from(table))


def _nothing_stored(services) -> bool:
    blobs = services.settings.blob_dir
    files = [p for p in blobs.rglob("*") if p.is_file()] if blobs.exists() else []
    return not files and all(_count(services, t) == 0 for t in (TuneRow, PhotoRow, EmbeddingRow, IdentityRow))


def _create(services, *images, **kwargs):
    photos = [PhotoInput(jpeg(im), f"p{i}.jpg") if isinstance(im, np.ndarray) else im for i, im in enumerate(images)]
    args = {"title": "Eileen", "name": "woman"} | kwargs
    return services.tunes.create(photos=photos, **args)


def test_tune_from_three_photos_is_ready_at_once(services, astronaut):
    tune = _create(services, astronaut, astronaut[:, ::-1].copy(), brighter(astronaut), base_model="sd-1-5")
    assert tune["model_type"] == "faceid" and tune["trained_at"] is not None
    assert tune["base_model"] == "sd-1-5" and tune["base_tune_id"] == 2
    assert [p["index"] for p in tune["images"]] == [0, 1, 2]
    assert all(p["quality"]["ok"] for p in tune["images"])
    identity = tune["identity"][0]
    assert identity["encoder"] == "dlib_resnet_v1" and identity["dim"] == 128 and identity["min_similarity"] > 0.9

    with services.sessions() as s:
        stored = s.scalars(select(IdentityRow)).one()
        vector = np.frombuffer(stored.vector, dtype=np.float32)
        assert abs(np.linalg.norm(vector) - 1) < 1e-5
        photos = s.scalars(select(PhotoRow)).all()
        assert len(photos) == 3 and all(len(p.embeddings) == 1 for p in photos)
        for p in photos:
            assert services.blobs.exists(p.crop_key) and services.blobs.exists(p.large_crop_key)
            assert p.original_key is None  # originals are not kept by default
    assert services.tunes.get(tune["id"]) == tune


def test_default_base_model_is_realistic_vision(services, astronaut):
    assert _create(services, astronaut)["base_model"] == "realistic-vision-v5-1"


def test_cat_gives_no_face_with_its_index(services, astronaut, cat):
    with pytest.raises(NoFaceError) as info:
        _create(services, astronaut, cat)
    assert info.value.image_index == 1 and info.value.code == "no_face"
    assert _nothing_stored(services)


def test_two_people_are_refused_and_counted(services, astronaut, hopper):
    with pytest.raises(MultipleFacesError) as info:
        _create(services, two_people(astronaut, hopper))
    assert info.value.details["faces"] == 2 and "2 faces" in info.value.message
    assert _nothing_stored(services)


def test_small_background_face_is_ignored(services, astronaut, hopper):
    photo = with_background_face(astronaut, hopper, 0.2)
    tune = _create(services, photo)
    assert tune["images"][0]["ignored_faces"] == 1


def test_tiny_face_is_refused(services, astronaut):
    with pytest.raises(FaceTooSmallError) as info:
        _create(services, shrunk(astronaut, 0.5))
    assert info.value.details["size_px"] < 64


def test_blurry_face_is_refused(services, astronaut):
    with pytest.raises(FaceTooBlurryError) as info:
        _create(services, astronaut, blurred(astronaut))
    assert info.value.image_index == 1
    assert _nothing_stored(services)


def test_turned_face_is_refused_by_the_pose_limit(tmp_path, monkeypatch, astronaut):
    from lookalike.config import Settings
    from lookalike.services import Services

    strict = Services(Settings(data_dir=tmp_path / "strict", max_yaw=0.01))
    with pytest.raises(FaceNotFrontalError):
        _create(strict, astronaut)
    strict.close()


def test_photos_of_different_people_name_the_odd_one(services, astronaut, hopper):
    with pytest.raises(IdentityMismatchError) as info:
        _create(services, astronaut, brighter(astronaut), hopper)
    assert info.value.image_index == 2 and "Photo 2" in info.value.message
    assert _nothing_stored(services)


def test_bad_files_are_refused_with_their_index(services, astronaut):
    for bad in (b"", b"not an image", jpeg(astronaut)[:5000]):
        with pytest.raises(InvalidImageError) as info:
            _create(services, astronaut, PhotoInput(bad, "bad"))
        assert info.value.image_index == 1
    assert _nothing_stored(services)


def test_limits_on_count_and_size(services, astronaut, monkeypatch):
    with pytest.raises(NoPhotosError):
        _create(services)
    with pytest.raises(TooManyPhotosError):
        _create(services, *[astronaut] * 11)
    services.tunes.photo_limits = type(services.tunes.photo_limits)(
        max_pixels=100_000, max_bytes=10**8, background_face_ratio=0.5
    )
    with pytest.raises(ImageTooLargeError):
        _create(services, astronaut)


def test_fields_are_checked(services, astronaut):
    with pytest.raises(InvalidFieldError) as info:
        _create(services, astronaut, title="  ")
    assert info.value.field == "title"
    with pytest.raises(InvalidFieldError) as info:
        _create(services, astronaut, name="dog")
    assert info.value.field == "name"
    with pytest.raises(UnknownBaseModelError):
        _create(services, astronaut, base_model="no-such-model")


def test_failure_while_writing_leaves_nothing(services, astronaut, monkeypatch):
    calls = {"n": 0}
    real_put = services.blobs.put

    def failing_put(key, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        real_put(key, data)

    monkeypatch.setattr(services.blobs, "put", failing_put)
    with pytest.raises(OSError):
        _create(services, astronaut, brighter(astronaut))
    assert _nothing_stored(services)


def test_list_show_delete(services, astronaut):
    first = _create(services, astronaut, title="one")
    second = _create(services, brighter(astronaut), title="two")
    assert [t["id"] for t in services.tunes.list()] == [second["id"], first["id"]]
    services.tunes.delete(first["id"])
    assert [t["id"] for t in services.tunes.list()] == [second["id"]]
    assert not (services.settings.blob_dir / "tunes" / str(first["id"])).exists()
    with pytest.raises(TuneNotFoundError):
        services.tunes.get(first["id"])
    with pytest.raises(TuneNotFoundError):
        services.tunes.delete(first["id"])
    assert _count(services, PhotoRow) == 1 and _count(services, EmbeddingRow) == 1


def test_other_accounts_tunes_are_invisible(services, astronaut):
    tune = _create(services, astronaut, account_id=7)
    assert services.tunes.get(tune["id"], account_id=7)["id"] == tune["id"]
    with pytest.raises(TuneNotFoundError):
        services.tunes.get(tune["id"], account_id=8)
    with pytest.raises(TuneNotFoundError):
        services.tunes.get(tune["id"])
    assert services.tunes.list(account_id=8) == []


class _MeanColourEncoder:
    """A stand-in second encoder: proves a new encoder is fed the kept crops."""

    name = "mean_colour_test"
    dim = 3

    def __init__(self):
        self.seen = []

    def embed(self, image, landmarks):
        self.seen.append((image.shape, [np.asarray(p) for p in landmarks]))
        v = image.reshape(-1, 3).mean(axis=0).astype(np.float32) + 1
        return (v / np.linalg.norm(v))[None].repeat(len(landmarks), axis=0)


def test_identity_for_a_new_encoder_comes_from_the_kept_crops(services, astronaut):
    from lookalike.faces.align import LARGE_CROP_SIZE, LARGE_TEMPLATE

    tune = _create(services, astronaut, brighter(astronaut))
    encoder = _MeanColourEncoder()
    vector = services.tunes.identity(tune["id"], encoder)
    assert vector.shape == (3,) and len(encoder.seen) == 2
    assert encoder.seen[0][0] == (LARGE_CROP_SIZE, LARGE_CROP_SIZE, 3)
    np.testing.assert_allclose(encoder.seen[0][1][0], LARGE_TEMPLATE)
    # Computed once, then read back from the database.
    again = services.tunes.identity(tune["id"], encoder)
    np.testing.assert_allclose(again, vector)
    assert len(encoder.seen) == 2
    encoders = {i["encoder"] for i in services.tunes.get(tune["id"])["identity"]}
    assert encoders == {"dlib_resnet_v1", "mean_colour_test"}
