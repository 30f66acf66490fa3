"""Request bodies with Astria's field names: ``tune[images][0]`` forms and ``{"tune": {...}}`` JSON.

Both end as one nested dict, so routes never look at the wire format.
Files come back as ``Upload`` (bytes + filename), read in full: their size
is already bounded by the request body limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from lookalike.errors import InputError, InvalidFieldError, LookalikeError

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
MAX_FIELDS = 200


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str | None


class BodyFormatError(InputError):
    code = "invalid_body"


def split_key(key: str) -> list[str]:
    """``"tune[images][]"`` -> ``["tune", "images", ""]``; a plain key is one part."""
    match = _KEY.match(key)
    if not match:
        raise BodyFormatError(f"Cannot read the field name {key!r}.", field=key)
    return [match.group(1), *_PART.findall(match.group(2))]


def nest(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Bracketed keys to a nested dict; ``[]`` appends, ``[N]`` orders by N, both give lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node = root
        for i, part in enumerate(parts[:-1]):
            following = parts[i + 1]
            is_list = following == "" or following.isdigit()
            child = node.get(part)
            if child is None:
                child = _IndexedList() if is_list else {}
                node[part] = child
            elif not isinstance(child, (dict, _IndexedList)):
                raise BodyFormatError(f"Field {key!r} is given both as a value and as a group.", field=key)
            elif is_list != isinstance(child, _IndexedList):
                raise BodyFormatError(f"Field {key!r} mixes a list and a single value.", field=key)
            if isinstance(child, _IndexedList):
                if i + 1 != len(parts) - 1:
                    raise BodyFormatError(f"Field {key!r} nests too deep.", field=key)
                child.add(following, value)
                break
            node = child
        else:
            last = parts[-1]
            if isinstance(node.get(last), (dict, _IndexedList)):
                raise BodyFormatError(f"Field {key!r} is given both as a value and as a group.", field=key)
            node[last] = value
    return _finish(root)


class _IndexedList:
    def __init__(self) -> None:
        self.items: list[tuple[int, int, Any]] = []  # (index or large, arrival order, value)

    def add(self, index: str, value: Any) -> None:
        order = len(self.items)
        self.items.append((int(index) if index else 10**9 + order, order, value))

    def values(self) -> list[Any]:
        return [value for _, _, value in sorted(self.items)]


def _finish(node: Any) -> Any:
    if isinstance(node, _IndexedList):
        return node.values()
    if isinstance(node, dict):
        return {k: _finish(v) for k, v in node.items()}
    return node


async def read_body(request: Request, *, max_files: int) -> dict[str, Any]:
    """The body as a nested dict; files as ``Upload``. Multipart, urlencoded or JSON."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return await _read_form(request, max_files=max_files)
    if content_type == "application/json" or content_type.endswith("+json"):
        return await _read_json(request)
    if not content_type:
        raise BodyFormatError("The request has no body type; send multipart/form-data or JSON.")
    raise BodyFormatError(
        f"Unsupported content type {content_type!r}; send multipart/form-data or application/json.",
        details={"content_type": content_type},
    )


async def _read_form(request: Request, *, max_files: int) -> dict[str, Any]:
    try:
        form = await request.form(max_files=max_files, max_fields=MAX_FIELDS)
    except StarletteHTTPException as exc:
        # Starlette reports a malformed multipart body as a 400; for us it is
        # the same kind of mistake as any other bad field.
        raise BodyFormatError(f"The form cannot be read: {exc.detail}.") from exc
    pairs: list[tuple[str, Any]] = []
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                value = Upload(await value.read(), value.filename)
            pairs.append((key, value))
    finally:
        await form.close()
    return nest(pairs)


async def _read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BodyFormatError(f"The JSON body cannot be parsed: {exc}.") from exc
    if not isinstance(body, dict):
        raise BodyFormatError("The JSON body must be an object.")
    return body


def section(body: dict[str, Any], name: str) -> dict[str, Any]:
    """``body[name]`` as a dict: the ``tune`` or ``prompt`` group."""
    group = body.get(name)
    if group is None:
        raise InvalidFieldError(
            f"The body has no {name!r} fields; send {name}[...] form fields or {{\"{name}\": {{...}}}}.",
            field=name,
        )
    if not isinstance(group, dict):
        raise InvalidFieldError(f"{name!r} must be a group of fields.", field=name)
    return group


def text_field(group: dict[str, Any], name: str, *, prefix: str, required: bool = False, max_chars: int = 4000) -> str | None:
    value = group.get(name)
    field = f"{prefix}[{name}]"
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise InvalidFieldError(f"{field} is required.", field=field)
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidFieldError(f"{field} must be text.", field=field)
    if len(value) > max_chars:
        raise InvalidFieldError(f"{field} is {len(value)} characters; at most {max_chars}.", field=field)
    if required and not value.strip():
        raise InvalidFieldError(f"{field} is required.", field=field)
    return value


_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n", ""}


def bool_field(group: dict[str, Any], name: str, *, prefix: str) -> bool:
    value = group.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidFieldError(f"{prefix}[{name}] must be true or false; got {value!r}.", field=f"{prefix}[{name}]")


@contextmanager
def fields_named_as_sent(group: str) -> Iterator[None]:
    """Errors from the services name a field ``title``; the caller sent ``tune[title]``: say that."""
    try:
        yield
    except LookalikeError as exc:
        if exc.field and "[" not in exc.field:
            exc.field = f"{group}[{exc.field}]"
        raise
