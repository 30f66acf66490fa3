"""Who is calling (``Authorization: Bearer KEY``) and whether they may create more right now."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lookalike.accounts.service import Caller
from lookalike.api.context import Ctx
from lookalike.api.ratelimit import CREATE, FACE_CHECK
from lookalike.errors import AuthError, RateLimitedError


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError("The Authorization header must be `Bearer KEY`.")
    return key.strip()


# Declared so that /openapi.json shows the bearer scheme on every operation
# that needs a key (and /docs offers "Authorize"). auto_error is off: a
# missing or malformed header still answers our own 401 error body.
bearer_scheme = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="lk_...",
    description="An API key: `lookalike keys create --name NAME` prints one.",
    auto_error=False,
)


def current_caller(
    ctx: Ctx,
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Caller:
    # HTTPBearer answers None alike for a missing and a malformed header;
    # bearer_key reads the header itself so that each keeps its own message.
    return ctx.services.accounts.authenticate(bearer_key(request))


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def _spend(ctx: Ctx, caller: Caller, budget: str, what: str) -> Caller:
    """The caller, once one call of ``budget`` is spent; 429 naming ``what`` when none is left."""
    wait = ctx.limiter.take(budget, caller.key_id)
    if wait is not None:
        raise RateLimitedError(f"Too many {what} with this key; try again in {wait:.1f} s.", retry_after=wait)
    return caller


def creation_allowance(ctx: Ctx, caller: CurrentCaller) -> Caller:
    return _spend(ctx, caller, CREATE, "tunes and prompts created")


CreatingCaller = Annotated[Caller, Depends(creation_allowance)]


def face_check_allowance(ctx: Ctx, caller: CurrentCaller) -> Caller:
    # Its own budget with the creation numbers: the studio checks every photo before creating.
    return _spend(ctx, caller, FACE_CHECK, "face checks")


CheckingCaller = Annotated[Caller, Depends(face_check_allowance)]
