"""``inpaint_faces``: each face redrawn at the model's native size, FaceID on, and pasted back.

In a full-body or group picture a face covers a few dozen pixels of the
latent, too few for the identity to take hold. Astria's face inpainting (and
A1111's ADetailer) redraw each face in a crop of its own:

1. faces are found with our face analysis (the same detector the tunes use;
   background faces smaller than ``background_face_ratio`` of the largest are
   left alone, as in tunes);
2. a square around each face, ``CROP_MARGIN`` times its box side (clamped to
   the picture), is scaled to the model's native square;
3. an inpainting pass redraws it with a mask over the face box (grown by
   ``MASK_GROW``) feathered at its edge, with the prompt's own text, LoRAs and
   the image's seed; the face gets the identity of the person whose region it
   is in (the only one, with one ``<faceid>`` token; none without a token);
4. the redrawn crop is scaled back and blended in through the same feathered
   mask. Where the mask is 0, which is everywhere outside each face's
   feathered box, the picture's pixels are left exactly as they were.

With a plain (non-inpainting) UNet, diffusers' inpainting pipeline keeps the
unmasked latents by re-noising the original into them at every step; the
paste-back mask is what guarantees the untouched pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

CROP_MARGIN = 2.0  # crop side / face box side: forehead, hair, chin and some neck
MASK_GROW = 1.15  # the redrawn area / face box side
FEATHER = 0.12  # feather width / crop side
MAX_FACES = 8


@dataclass(frozen=True)
class FaceCrop:
    box: tuple[int, int, int, int]  # the square crop in the picture: left, top, right, bottom
    face: tuple[float, float, float, float]  # the detected face box in the picture
    center: tuple[float, float]  # as fractions of the picture, to find the person's region


def face_crops(detections, width: int, height: int, background_ratio: float) -> list[FaceCrop]:
    """The squares to redraw, largest face first; background faces and overlapping repeats skipped."""
    if not detections:
        return []
    faces = sorted(detections, key=lambda d: d.size, reverse=True)
    largest = faces[0].size
    crops: list[FaceCrop] = []
    for detection in faces:
        if detection.size < background_ratio * largest or len(crops) == MAX_FACES:
            continue
        x0, y0, x1, y1 = (float(v) for v in detection.box)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = min(max(x1 - x0, y1 - y0) * CROP_MARGIN, width, height)
        left = int(round(min(max(cx - side / 2, 0), width - side)))
        top = int(round(min(max(cy - side / 2, 0), height - side)))
        size = int(round(side))
        crops.append(FaceCrop((left, top, left + size, top + size), (x0, y0, x1, y1), (cx / width, cy / height)))
    return crops


def feathered_mask(crop: FaceCrop) -> np.ndarray:
    """Float32 (side, side) in 0..1: 1 over the grown face box, 0 at and beyond its feathered edge."""
    left, top, right, bottom = crop.box
    side = right - left
    x0, y0, x1, y1 = crop.face
    cx, cy = (x0 + x1) / 2 - left, (y0 + y1) / 2 - top
    half = max(x1 - x0, y1 - y0) * MASK_GROW / 2
    feather = max(2.0, FEATHER * side)
    coords = np.arange(side, dtype=np.float32) + 0.5
    # Distance outside the grown box along each axis; a smooth ramp down over the feather.
    dx = np.clip(np.abs(coords - cx) - half, 0, None) / feather
    dy = np.clip(np.abs(coords - cy) - half, 0, None) / feather
    ramp = np.clip(1.0 - np.sqrt(dx[None, :] ** 2 + dy[:, None] ** 2), 0.0, 1.0)
    return (ramp * ramp * (3 - 2 * ramp)).astype(np.float32)  # smoothstep: no visible seam


def person_for(center: tuple[float, float], identities, faces_plan) -> tuple:
    """The identities the pass on a face gets: the person whose region holds the face, else all of them as given."""
    if not identities:
        return ()
    if faces_plan is None or not faces_plan.regions:
        return tuple(identities)
    x, y = center
    for person in faces_plan.people:
        x0, y0, x1, y1 = person.box
        if x0 <= x <= x1 and y0 <= y <= y1:
            match = next((i for i in identities if getattr(i, "tune_id", None) == person.tune_id), None)
            return (match,) if match is not None else ()
    return ()


def apply_inpaint_faces(generator, analyzer, request, result, *, background_ratio: float, strength: float,
                        faces_plan=None, on_image=None) -> list[list[dict]]:
    """Redraw the faces of each image of ``result`` in place; per image, a record of each face redrawn."""
    from PIL import Image

    from lookalike.generation.request import InitImage

    native = request.base_model.native_size
    records: list[list[dict]] = []
    for number, image in enumerate(result.images, start=1):
        if on_image is not None:
            on_image(number)
        picture = np.asarray(image.image.convert("RGB"))
        height, width = picture.shape[:2]
        crops = face_crops(analyzer.detect(picture), width, height, background_ratio)
        out = picture.astype(np.float32)
        done = []
        for index, crop in enumerate(crops):
            left, top, right, bottom = crop.box
            side = right - left
            mask = feathered_mask(crop)
            tile = Image.fromarray(picture[top:bottom, left:right]).resize((native, native), Image.Resampling.LANCZOS)
            mask_image = Image.fromarray((mask * 255).round().astype(np.uint8)).resize((native, native), Image.Resampling.BILINEAR)
            identities = person_for(crop.center, request.identities, faces_plan)
            redraw = replace(
                request,
                options=request.options.model_copy(
                    update={"num_images": 1, "seed": (image.seed + index) % 2**32, "w": native, "h": native,
                            "aspect_ratio": None, "faceid_layout": None}
                ),
                identities=identities,
                init=InitImage(image=tile, strength=strength, mask=mask_image),
                control=None,
            )
            drawn = generator.generate(redraw).images[0].image.convert("RGB").resize((side, side), Image.Resampling.LANCZOS)
            alpha = mask[..., None]
            region = out[top:bottom, left:right]
            out[top:bottom, left:right] = region * (1 - alpha) + np.asarray(drawn, dtype=np.float32) * alpha
            done.append({"box": [int(v) for v in crop.box], "person": identities[0].tune_id if len(identities) == 1 else None})
        if done:
            blended = np.clip(np.round(out), 0, 255).astype(np.uint8)
            # Exactly the old pixels wherever no mask reached (float round trips must not move them).
            untouched = _untouched(crops, height, width)
            blended[untouched] = picture[untouched]
            image.image = Image.fromarray(blended)
            image.parameters = f"{image.parameters}, Inpaint faces: {len(done)}, Inpaint faces strength: {strength:g}"
        records.append(done)
    return records


def _untouched(crops: list[FaceCrop], height: int, width: int) -> np.ndarray:
    """True where no face's feathered mask is above 0."""
    touched = np.zeros((height, width), dtype=bool)
    for crop in crops:
        left, top, right, bottom = crop.box
        touched[top:bottom, left:right] |= feathered_mask(crop) > 0
    return ~touched
