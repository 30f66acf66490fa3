"""Where domain errors become HTTP answers, in Astria's shape with our stable code beside it.

Code written for Astria reads ``error`` as a string: every error body is
``{"error": MESSAGE, "code": CODE, "message": MESSAGE, "hint", "field",
"image_index", "details"}`` (the last four when they apply). ``code`` is
the stable, documented contract (README, docs/API.md); ``error`` is for
people and may be reworded.
"""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lookalike.errors import (
    AuthError,
    ImageTooLargeError,
    InvalidLinkError,
    InputError,
    LookalikeError,
    ModelIntegrityError,
    ModelUnavailableError,
    NotFoundError,
    RateLimitedError,
    RequestTooLargeError,
    SignupClosedError,
    TuneAccessError,
    TuneNotTrainedError,
)

log = logging.getLogger(__name__)

# First match wins, so subclasses come before their bases.
STATUS_BY_ERROR: tuple[tuple[type[LookalikeError], int], ...] = (
    (AuthError, 401),
    (RateLimitedError, 429),
    (SignupClosedError, 403),
    (InvalidLinkError, 403),
    (ImageTooLargeError, 413),
    (RequestTooLargeError, 413),
    (NotFoundError, 404),
    # A tune named in the prompt text that the caller may not use: the body is wrong.
    (TuneAccessError, 422),
    # A LoRA tune's file asked for before its training ended: it exists, not yet (GET ckpt_url early).
    (TuneNotTrainedError, 409),
    (InputError, 422),
    (ModelUnavailableError, 503),
    (ModelIntegrityError, 503),
)

_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def status_for(exc: LookalikeError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


def error_response(status: int, error: dict, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error["message"], **error}, status_code=status, headers=headers)


async def on_lookalike_error(_request: Request, exc: LookalikeError) -> JSONResponse:
    status = status_for(exc)
    headers = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = "Bearer"
    if status == 500:
        log.error("unmapped domain error %s: %s", exc.code, exc.message)
    return error_response(status, exc.to_dict(), headers)


async def on_validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body", "header")), "message": e.get("msg", "")}
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"field": None, "message": "Invalid request."}
    error = {
        "code": "invalid_request",
        "message": f"{first['field']}: {first['message']}" if first["field"] else first["message"],
        "field": first["field"] or None,
        "details": {"errors": problems},
    }
    return error_response(422, error)


async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "HTTP error."
    if exc.status_code == 404 and message == "Not Found":
        message = "There is no such endpoint; see /docs."
    return error_response(exc.status_code, {"code": code, "message": message}, dict(exc.headers or {}))


async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, {"code": "internal_error", "message": "Something went wrong on our side; it was logged."})


def install(app: FastAPI) -> None:
    app.add_exception_handler(LookalikeError, on_lookalike_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
