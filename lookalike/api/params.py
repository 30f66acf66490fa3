"""Path and query parameters shared by the routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header, Path, Query
from pydantic import BeforeValidator

from lookalike.schemas.common import parse_int

# Ids beyond a 32-bit signed int exist in no table, and SQLite cannot even bind them.
MAX_ID = 2**31 - 1
MAX_PAGE_SIZE = 120


def _plain_int(value: Any) -> Any:
    # pydantic's lax int reads "1_0" as 10 and "5.0" as 5; the docs promise a
    # plain decimal, so /tunes/0_1 must not be tune 1.
    if isinstance(value, str):
        try:
            return parse_int(value)
        except ValueError:
            raise ValueError("must be a plain whole number (ASCII digits)") from None
    return value


PlainInt = Annotated[int, BeforeValidator(_plain_int)]

TuneId = Annotated[PlainInt, Path(ge=1, le=MAX_ID, description="A tune id, or a base model's gallery id.")]
PromptId = Annotated[PlainInt, Path(ge=1, le=MAX_ID)]
ImagePosition = Annotated[PlainInt, Path(ge=0, le=64, description="The image's position in the prompt, from 0.")]
Limit = Annotated[PlainInt, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (default 20, at most 120).")]
Offset = Annotated[PlainInt, Query(ge=0, le=MAX_ID, description="Rows to skip.")]
BeforeId = Annotated[PlainInt | None, Query(ge=1, le=MAX_ID, description="Only ids below this (cursor paging).")]

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="Repeat-safe POST: the same key gives the same object."),
]
