"""Pieces every resource's schemas share: uploaded files, text fields, error bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator

from lookalike.prompts.numbers import MAX_DIGITS, parse_int
from lookalike.tunes.photo_check import PhotoInput
from lookalike.tunes.views import iso_timestamp

# Re-exported for the API's path and body parsing, which reads numbers the
# same strict way as the schemas do.
__all__ = ["MAX_DIGITS", "ErrorBody", "ErrorDetail", "Text", "Upload", "iso", "parse_int", "without_blanks"]

# An uploaded file, read in full (its size is bounded by the request body
# limit): the same type the tunes service checks, so nothing converts it.
Upload = PhotoInput


def _text(value: Any) -> Any:
    # A JSON client may send a title or a prompt as a number; it is still text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


Text = Annotated[str, BeforeValidator(_text)]


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    field: str | None = None
    image_index: int | None = None
    details: dict[str, Any] | None = None


class ErrorBody(ErrorDetail):
    """An error answer: Astria's ``error`` (the message, a string) with our fields beside it."""

    error: str


def iso(value: datetime | None) -> str | None:
    """Astria's timestamp form: UTC with milliseconds and a Z, ``2023-10-02T14:32:40.363Z``."""
    return iso_timestamp(value)


def without_blanks(fields: dict[str, Any], keep: tuple[str, ...] = ()) -> dict[str, Any]:
    """Fields with nulls and untouched form fields ("") left out: HTML forms send every input."""
    return {
        name: value
        for name, value in fields.items()
        if value is not None and not (isinstance(value, str) and not value.strip() and name not in keep)
    }
