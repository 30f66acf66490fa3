"""3D lookup tables: the ``.cube`` text format, and trilinear lookup in numpy.

``.cube`` (Adobe/Resolve) is the format colourists exchange: ``LUT_3D_SIZE N``
then N**3 lines ``r g b``, red changing fastest. A pixel between nodes is
mixed from the eight nodes of its cell, weighted by its distance to each
along the three axes (trilinear interpolation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Pixels per slice of the lookup: eight float32 corner gathers of this many
# pixels stay near 25 MB however large the image.
_CHUNK = 1 << 18


@dataclass(frozen=True)
class Lut3D:
    title: str
    size: int
    table: np.ndarray  # (size**3, 3) float32, red fastest, as the file lists it

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """Look up ``rgb`` (..., 3) with values in [0, 1] (clipped); same shape, float32."""
        flat = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3)
        out = np.empty_like(flat)
        for start in range(0, len(flat), _CHUNK):
            out[start : start + _CHUNK] = self._trilinear(flat[start : start + _CHUNK])
        return out.reshape(np.shape(rgb))

    def _trilinear(self, rgb: np.ndarray) -> np.ndarray:
        n = self.size
        scaled = np.clip(rgb, 0.0, 1.0) * (n - 1)
        low = np.minimum(scaled.astype(np.int32), n - 2)
        frac = scaled - low
        fr, fg, fb = frac[:, 0:1], frac[:, 1:2], frac[:, 2:3]
        base = low[:, 0] + n * low[:, 1] + n * n * low[:, 2]
        t = self.table

        def along_red(index: np.ndarray) -> np.ndarray:
            first = t[index]
            return first + (t[index + 1] - first) * fr

        c00, c10 = along_red(base), along_red(base + n)
        c01, c11 = along_red(base + n * n), along_red(base + n * n + n)
        c0 = c00 + (c10 - c00) * fg
        c1 = c01 + (c11 - c01) * fg
        return c0 + (c1 - c0) * fb


def read_cube(path: Path) -> Lut3D:
    """A ``.cube`` 3D LUT over the domain 0..1; ValueError naming the file when it is not one."""
    title, size, rows = "", None, []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        if key == "TITLE":
            title = rest.strip().strip('"')
        elif key == "LUT_3D_SIZE":
            size = int(rest)
        elif key in ("DOMAIN_MIN", "DOMAIN_MAX"):
            if [float(v) for v in rest.split()] != ([0.0] * 3 if key == "DOMAIN_MIN" else [1.0] * 3):
                raise ValueError(f"{path}:{number}: only the domain 0..1 is read")
        elif key[0].isdigit() or key[0] in "-.":
            rows.append([float(v) for v in line.split()])
        else:
            raise ValueError(f"{path}:{number}: not a 3D .cube line: {line[:40]!r}")
    if size is None or size < 2 or len(rows) != size**3 or any(len(r) != 3 for r in rows):
        raise ValueError(f"{path}: expected LUT_3D_SIZE and size**3 rows of three numbers")
    return Lut3D(title, size, np.array(rows, dtype=np.float32))


def write_cube(path: Path, title: str, table: np.ndarray, comments: tuple[str, ...] = ()) -> None:
    """``table`` ((size**3, 3), red fastest) as a ``.cube`` file, five decimals per value."""
    size = round(len(table) ** (1 / 3))
    if size**3 != len(table):
        raise ValueError("a 3D LUT has size**3 rows")
    lines = [*(f"# {c}" for c in comments), f'TITLE "{title}"', f"LUT_3D_SIZE {size}",
             "DOMAIN_MIN 0 0 0", "DOMAIN_MAX 1 1 1"]
    lines += [f"{r:.5f} {g:.5f} {b:.5f}" for r, g, b in np.asarray(table, dtype=np.float64)]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
