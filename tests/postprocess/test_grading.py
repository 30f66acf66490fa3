"""Colour grading: the looks are graded in linear light, from curves and 3D LUTs kept as data."""

from __future__ import annotations

import numpy as np
import pytest

from lookalike.postprocess.grading import transfer
from lookalike.postprocess.grading.looks import has_look, load_look, look_names
from lookalike.postprocess.grading.lut import Lut3D, read_cube, write_cube
from lookalike.postprocess.grading.recipe import LUMA, build, look_files
from lookalike.prompts.looks import COLOR_GRADINGS

RAMP = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)[None]  # (1, 256, 3) greys


def chroma(pixels: np.ndarray) -> float:
    """Mean distance from grey of the same luminance, in linear light."""
    linear = transfer.decode(pixels).astype(np.float64)
    return float(np.abs(linear - (linear @ LUMA)[..., None]).mean())


def test_every_grading_value_has_a_look_and_its_lut_is_what_its_recipe_makes():
    assert sorted(look_names()) == sorted(COLOR_GRADINGS)
    assert all(has_look(name) for name in COLOR_GRADINGS) and not has_look("Kodachrome")
    for path in look_files():
        cube, title, table, _ = build(path)
        shipped = read_cube(cube)
        assert shipped.title == title and shipped.size == 17
        np.testing.assert_allclose(shipped.table, table, atol=6e-6)


def test_the_srgb_transfer_is_exact_and_inverts():
    levels = np.arange(256, dtype=np.uint8)
    assert transfer.decode(levels)[[0, 255]].tolist() == [0.0, 1.0]
    assert abs(float(transfer.decode(np.uint8(128))) - 0.2158605) < 1e-6  # IEC 61966-2-1
    assert (transfer.encode(transfer.decode(levels)) == levels).all()


def test_trilinear_lookup_is_exact_on_nodes_and_on_linear_maps(tmp_path):
    size = 5
    axis = np.linspace(0, 1, size)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    nodes = np.stack([r, g, b], axis=-1).reshape(-1, 3)
    mix = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.05, 0.15, 0.8]])  # trilinear holds any linear map exactly
    write_cube(tmp_path / "mix.cube", "mix", nodes @ mix.T)
    lut = read_cube(tmp_path / "mix.cube")
    points = np.random.default_rng(0).random((1000, 3)).astype(np.float32)
    np.testing.assert_allclose(lut(points), points @ mix.T, atol=2e-5)
    np.testing.assert_allclose(lut(nodes.astype(np.float32)), nodes @ mix.T, atol=1e-5)
    # A table that is not linear is mixed from the eight nodes around a point by its distance to each.
    bent = Lut3D("bent", 2, np.array([[0, 0, 0]] * 7 + [[1, 1, 1]], dtype=np.float32))
    assert bent(np.array([[0.5, 0.5, 0.5]], dtype=np.float32)).tolist() == [[0.125, 0.125, 0.125]]


def test_the_grade_is_in_linear_light_not_on_encoded_values():
    look = load_look("Film Portra")
    graded = look.apply(RAMP)[0].astype(int)
    # The look's own curves, run on linear light, then encoded: what the grade gives (its LUT keeps greys).
    in_linear = transfer.encode(look.tone(transfer.decode(RAMP)))[0].astype(int)
    assert np.abs(graded - in_linear).max() <= 1
    # The same curves run on the encoded values would give another picture.
    on_encoded = np.rint(look.tone(RAMP.astype(np.float32) / 255) * 255)[0].astype(int)
    assert np.abs(graded - on_encoded).max() >= 10
    # Portra lifts its blacks and holds its whites below paper white: low contrast.
    assert graded[0, 0] > 8 and graded[255, 0] < 250


@pytest.mark.parametrize("name", COLOR_GRADINGS)
def test_greys_stay_grey_where_the_look_says_so(name):
    look = load_look(name)
    graded = look.apply(RAMP)[0].astype(int)
    spread = graded.max(axis=1) - graded.min(axis=1)
    if look.keeps_neutrals:
        assert spread.max() <= 1, spread.argmax()
    else:
        # Velvia's shadows go cool and blue; its mid-grey and white stay grey.
        assert (graded[20:60, 2] - graded[20:60, 0]).min() >= 3
        assert spread[128] <= 1 and spread[255] == 0
    assert (np.diff(graded, axis=0) >= 0).all()  # no tone is inverted


def test_each_look_does_what_its_intent_says(astronaut):
    photo = astronaut[::2, ::2]
    luma = (photo.astype(np.float64) @ LUMA).std()
    graded = {name: load_look(name).apply(photo) for name in COLOR_GRADINGS}
    assert chroma(graded["Film Velvia"]) > 1.15 * chroma(photo)
    assert chroma(graded["Ektar"]) > 1.1 * chroma(photo)
    assert chroma(graded["Film Portra"]) < chroma(photo)
    assert (graded["Film Portra"].astype(np.float64) @ LUMA).std() < 0.95 * luma
    assert (graded["Film Velvia"].astype(np.float64) @ LUMA).std() > luma
    # Ektar's reds strongest: a red patch gains more chroma than a green one.
    red, green = np.array([[[170, 60, 50]]], np.uint8), np.array([[[70, 150, 60]]], np.uint8)
    ektar = load_look("Ektar")
    assert chroma(ektar.apply(red)) / chroma(red) > chroma(ektar.apply(green)) / chroma(green) + 0.1
