"""``POST /faces/check``: one photo's face check before a tune is made, for the studio and other clients.

It runs exactly the check ``POST /tunes`` runs on each photo, so a photo
that passes here passes there (the identity agreement between photos is
the one check left to tune creation).
"""

from __future__ import annotations

import base64
import io

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from PIL import Image

from lookalike.api.auth import CheckingCaller
from lookalike.api.context import ApiContext, Ctx
from lookalike.api.forms import read_body
from lookalike.api.schemas import CREATE_ERRORS, FaceCheckPublic
from lookalike.errors import InputError, InvalidFieldError
from lookalike.schemas import Upload

router = APIRouter(tags=["faces"])


@router.post(
    "/faces/check",
    response_model=FaceCheckPublic,
    responses=CREATE_ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "image": {"type": "string", "format": "binary"},
                            "index": {"type": "integer", "minimum": 0, "description": "Position of the photo in the tune, echoed in messages."},
                        },
                        "required": ["image"],
                    }
                }
            },
        }
    },
    summary="Check one photo's face as POST /tunes would (ok, or the reason it is refused)",
    description=(
        "Answers 200 with `ok: true`, the face's quality and its aligned crop as a PNG data URL, "
        "or `ok: false` with the same `error` object `POST /tunes` would give for this photo. "
        "Bodies that are not a multipart upload with an `image` file answer 422. "
        "Each call spends one of the key's face-check budget (its own, with the creation "
        "budget's numbers); none left answers 429 with Retry-After."
    ),
)
async def check_face(request: Request, ctx: Ctx, _caller: CheckingCaller) -> dict:
    body = await read_body(request, max_files=1)
    upload = body.get("image")
    if not isinstance(upload, Upload):
        raise InvalidFieldError("Send the photo as a multipart file named `image`.", field="image")
    index = _index(body.get("index"))
    return await run_in_threadpool(_check, ctx, upload, index)


def _index(value: object) -> int:
    if value in (None, ""):
        return 0
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        return int(value)
    raise InvalidFieldError("`index` must be a photo position (0, 1, 2...).", field="index")


def _check(ctx: ApiContext, photo: Upload, index: int) -> dict:
    try:
        checked = ctx.services.tunes.check_photo(index, photo)
    except InputError as exc:
        # A refused photo is this endpoint's normal answer, not a failed request.
        return {"ok": False, "index": index, "face": None, "crop": None, "error": exc.to_dict()}
    face = checked.face
    return {
        "ok": True,
        "index": index,
        "face": {
            "box": face.detection.box_dict(),
            "quality": face.quality.to_dict(),
            "ignored_faces": checked.ignored_faces,
        },
        "crop": _data_url(face.crop_large),
        "error": None,
    }


def _data_url(rgb) -> str:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
