"""Path and query parameters shared by the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

# Ids beyond a 32-bit signed int exist in no table, and SQLite cannot even bind them.
MAX_ID = 2**31 - 1
MAX_PAGE_SIZE = 120

TuneId = Annotated[int, Path(ge=1, le=MAX_ID, description="A tune id, or a base model's gallery id.")]
PromptId = Annotated[int, Path(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (default 20, at most 120).")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="Rows to skip.")]
BeforeId = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only ids below this (cursor paging).")]
