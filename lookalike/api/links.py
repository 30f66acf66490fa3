"""Signed links: an image or tune photo opens with a valid ``?expires=&signature=`` and no key.

Without a signature the route asks for the key as any other; with one, the
signature must be valid for exactly this path, and the object must still
exist (a deleted prompt's links answer 404).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from lookalike.accounts.service import Caller
from lookalike.api.auth import bearer_scheme, current_caller
from lookalike.api.context import Ctx
from lookalike.api.schemas import ErrorBody
from lookalike.errors import InvalidLinkError


def signed_or_caller(
    ctx: Ctx,
    request: Request,
    expires: Annotated[str | None, Query(description="Expiry of a signed link (UNIX seconds).")] = None,
    signature: Annotated[str | None, Query(description="Signature of a signed link.")] = None,
) -> Caller | None:
    """None for a valid signed link (anyone may open it); the caller otherwise."""
    if expires is None and signature is None:
        return current_caller(ctx, request, None)
    if not ctx.services.url_signer.verify(request.url.path, request.query_params):
        raise InvalidLinkError("This link has expired or was altered.")
    return None


LinkOrCaller = Annotated[Caller | None, Depends(signed_or_caller)]

# For the routes that take LinkOrCaller: in OpenAPI, the key or nothing ({}:
# a signed link needs none), and the 403 of a bad link.
LINK_OPENAPI = {"security": [{bearer_scheme.scheme_name: []}, {}]}
LINK_ERRORS = {403: {"model": ErrorBody, "description": "The signed link expired or was altered (invalid_link)."}}
