"""Extra checks on the real photos in ../shared/data/faces (skipped where absent)."""

from __future__ import annotations

import pytest

from lookalike.errors import FaceTooSmallError, IdentityMismatchError, MultipleFacesError
from lookalike.tunes.photo_check import PhotoInput
from tests.conftest import shared_faces


def _photos(*names):
    root = shared_faces()
    return [PhotoInput((root / n).read_bytes(), n) for n in names]


def test_same_person_photos_make_a_tune(services):
    tune = services.tunes.create(
        title="Obama", name="man",
        photos=_photos("obama/obama_1.jpg", "obama/obama_2.jpg", "obama/obama_3.jpg", "obama/obama_4.jpg"),
    )
    assert len(tune["images"]) == 4 and tune["identity"][0]["min_similarity"] > 0.9


@pytest.mark.parametrize("group", ["group/kit_with_rose.jpg", "group/obama_and_biden.jpg", "group/two_people.jpg"])
def test_group_photos_are_refused(services, group):
    with pytest.raises(MultipleFacesError) as info:
        services.tunes.create(title="g", name="person", photos=_photos(group))
    assert info.value.details["faces"] >= 2


def test_low_resolution_face_is_too_small(services):
    with pytest.raises(FaceTooSmallError):
        services.tunes.create(title="s", name="man", photos=_photos("obama/obama_240p.jpg"))


@pytest.mark.parametrize(
    "photos, odd",
    [
        (["kit_harington/kit_1.jpg", "rose_leslie/rose_1.jpg"], 1),
        (["obama/obama_1.jpg", "obama/obama_2.jpg", "biden/biden_1.jpg"], 2),
        (["rose_leslie/rose_1.jpg", "kit_harington/kit_2.jpg", "rose_leslie/rose_2.jpg"], 1),
    ],
)
def test_mixed_people_name_the_odd_photo(services, photos, odd):
    with pytest.raises(IdentityMismatchError) as info:
        services.tunes.create(title="m", name="person", photos=_photos(*photos))
    assert info.value.image_index == odd


def test_rgba_png_photos_work(services):
    tune = services.tunes.create(
        title="Lin", name="man", photos=_photos("lin_manuel_miranda/lin_1.png")
    )
    assert tune["images"][0]["quality"]["ok"]
