"""``POST /keys``: self-service sign-up (a new account and its first key), only where the operator allows it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from lookalike.api.context import Ctx
from lookalike.api.forms import read_body
from lookalike.api.schemas import ErrorBody, KeyFields, NewKeyPublic
from lookalike.errors import InvalidFieldError, SignupClosedError

router = APIRouter(tags=["keys"])


@router.post(
    "/keys",
    status_code=201,
    response_model=NewKeyPublic,
    responses={
        403: {"model": ErrorBody, "description": "Sign-up is off on this server (the default)."},
        422: {"model": ErrorBody, "description": "The name is missing or too long."},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": KeyFields.model_json_schema()}}}
    },
    summary="Create an account and its API key (needs `lookalike serve --open-signup`)",
    description="No auth. The key is shown in this answer only; the server keeps its hash.",
)
async def create_key(request: Request, ctx: Ctx) -> JSONResponse:
    if not ctx.settings.open_signup:
        raise SignupClosedError("This server does not hand out keys to anonymous callers.")
    body = await read_body(request, max_files=0)
    name = body.get("name")
    if not isinstance(name, str):
        raise InvalidFieldError("`name` must be a string of 1 to 255 characters.", field="name")
    made = await run_in_threadpool(ctx.services.accounts.create_key, name=name)
    return JSONResponse(
        {"key": made.key, "id": made.key_id, "account_id": made.account_id, "name": made.name, "callback_secret": made.callback_secret},
        status_code=201,
    )
