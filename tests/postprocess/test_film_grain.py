"""Film grain: seeded by the image's seed, sized to the picture, strongest in the mid-tones, mean kept."""

from __future__ import annotations

import numpy as np

from lookalike.postprocess.film_grain import STRENGTH, add_grain


def grey(side: int, level: int = 128) -> np.ndarray:
    return np.full((side, side, 3), level, dtype=np.uint8)


def correlation_length(grain: np.ndarray) -> float:
    """Lag (px) at which the grain's autocorrelation along rows falls to one half."""
    field = grain - grain.mean()
    power = np.abs(np.fft.rfft2(field)) ** 2
    row = np.fft.irfft2(power, s=field.shape)[0, :64]
    row = row / row[0]
    k = int(np.argmax(row < 0.5))
    return (k - 1) + (row[k - 1] - 0.5) / (row[k - 1] - row[k])


def test_the_same_seed_gives_the_same_grain_and_another_seed_another(astronaut):
    photo = astronaut[::2, ::2]
    first, _ = add_grain(photo, seed=41)
    again, _ = add_grain(photo, seed=41)
    other, _ = add_grain(photo, seed=42)
    assert (first == again).all()
    assert (first != other).mean() > 0.5
    # The picture keeps its brightness and colour: the grain averages out.
    assert np.abs(first.astype(np.float64).mean(axis=(0, 1)) - photo.mean(axis=(0, 1))).max() < 0.3


def test_the_grain_grows_with_the_picture_so_a_x4_image_looks_the_same():
    small, small_sigma = add_grain(grey(512), seed=3)
    large, large_sigma = add_grain(grey(2048), seed=3)
    assert large_sigma == 4 * small_sigma
    small_grain = small[..., 1].astype(np.float64) - 128
    large_grain = large[..., 1].astype(np.float64)[:1024, :1024] - 128
    ratio = correlation_length(large_grain) / correlation_length(small_grain)
    assert 3.4 < ratio < 4.6, ratio
    # As strong at both sizes: about STRENGTH of full scale at mid-grey.
    assert abs(small_grain.std() / (STRENGTH * 255) - 1) < 0.1
    assert abs(large_grain.std() / small_grain.std() - 1) < 0.1


def test_most_grain_in_the_mid_tones_and_mostly_one_grain_for_the_three_channels():
    side = 256
    spread = {level: (add_grain(grey(side, level), seed=9)[0].astype(np.float64) - level) for level in (16, 128, 240)}
    stds = {level: grain.std() for level, grain in spread.items()}
    assert stds[128] > 2.5 * stds[16] and stds[128] > 2.5 * stds[240]
    mid = spread[128].reshape(-1, 3)
    shared = np.corrcoef(mid.T)[np.triu_indices(3, 1)]
    assert (0.65 < shared).all() and (shared < 0.95).all()  # slightly chromatic, not monochrome
