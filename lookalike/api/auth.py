"""Who is calling (``Authorization: Bearer KEY``) and whether they may create more right now."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lookalike.accounts.service import Caller
from lookalike.api.context import Ctx
from lookalike.errors import AuthError, RateLimitedError


def bearer_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthError("The Authorization header must be `Bearer KEY`.")
    return key.strip()


def current_caller(ctx: Ctx, request: Request) -> Caller:
    return ctx.accounts.authenticate(bearer_key(request))


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def creation_allowance(ctx: Ctx, caller: CurrentCaller) -> Caller:
    """The caller, once a token of their creation budget is spent; 429 when none is left."""
    wait = ctx.limiter.take(caller.key_id)
    if wait is not None:
        raise RateLimitedError(
            f"Too many tunes and prompts created with this key; try again in {wait:.1f} s.",
            retry_after=wait,
        )
    return caller


CreatingCaller = Annotated[Caller, Depends(creation_allowance)]
