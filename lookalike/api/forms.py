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
from typing import Any

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from lookalike.errors import (
    BodyTooDeepError,
    InvalidBodyError,
    InvalidFieldError,
    InvalidUnicodeError,
    LookalikeError,
    NumberTooLongError,
)
from lookalike.schemas.common import MAX_DIGITS, Upload, parse_int

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS, re.ASCII)
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_FIELDS = 200
# Our bodies nest two or three levels ({"prompt": {"text": ...}}); anything
# much deeper is an attack on the recursive code that walks it.
MAX_DEPTH = 16
# JSON numbers are parsed with int()/float() on the digits: bound them before
# Python's 4300-digit limit turns into a ValueError (a 500).
MAX_NUMBER_CHARS = 2 * MAX_DIGITS + 8


# The name routes and tests know; the class lives with the other typed errors.
BodyFormatError = InvalidBodyError


def split_key(key: str) -> list[str]:
    """``"tune[images][]"`` -> ``["tune", "images", ""]``; a plain key is one part."""
    match = _KEY.match(key)
    if not match:
        raise BodyFormatError(f"Cannot read the field name {key!r}.", field=key)
    parts = [match.group(1), *_PART.findall(match.group(2))]
    if len(parts) > MAX_DEPTH:
        shown = key if len(key) <= 80 else key[:80] + "..."
        raise BodyTooDeepError(f"Field {shown!r} nests {len(parts)} levels deep; at most {MAX_DEPTH}.", field=shown)
    return parts


def nest(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Bracketed keys to a nested dict; ``[]`` appends, ``[N]`` orders by N, both give lists.

    A list may hold groups, as Rails reads them (Astria's
    ``tune[prompts_attributes][][text]``): ``[][key]`` starts a new group
    when the last one already has ``key``; ``[N][key]`` fills group N.
    """
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = split_key(key)
        node: dict[str, Any] = root
        i = 0
        while i < len(parts) - 1:
            part, following = parts[i], parts[i + 1]
            # ASCII only: str.isdigit() also takes "²", which int() then refuses.
            is_list = following == "" or _INDEX.fullmatch(following) is not None
            child = node.get(part)
            if child is None:
                child = _IndexedList() if is_list else {}
                node[part] = child
            elif not isinstance(child, (dict, _IndexedList)):
                raise BodyFormatError(f"Field {key!r} is given both as a value and as a group.", field=key)
            elif is_list != isinstance(child, _IndexedList):
                raise BodyFormatError(f"Field {key!r} mixes a list and a single value.", field=key)
            if isinstance(child, _IndexedList):
                if i + 2 == len(parts):
                    child.add(following, value)
                    break
                # A list of groups: the group this key goes into, then on inside it.
                node = child.group(following, parts[i + 2], key)
                i += 2
                continue
            node = child
            i += 1
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
        self.items.append((parse_int(index) if index else 10**MAX_DIGITS + order, order, value))

    def group(self, index: str, key: str, field: str) -> dict[str, Any]:
        """The group that ``[index][key]`` fills: found by index, or the open one for ``[]``."""
        if index:
            number = parse_int(index)
            for position, _, item in self.items:
                if position == number:
                    if not isinstance(item, dict):
                        raise BodyFormatError(f"Field {field!r} mixes a list and a single value.", field=field)
                    return item
        elif self.items and isinstance(self.items[-1][2], dict) and key not in self.items[-1][2]:
            return self.items[-1][2]
        created: dict[str, Any] = {}
        self.add(index, created)
        return created

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
    # Starlette never yields a lone surrogate from a form today (invalid UTF-8
    # becomes U+FFFD or latin-1), but checking costs nothing and keeps both
    # wire formats under one rule.
    body = nest(pairs)
    _check_strings(body)
    return body


class _NumberTooLong(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


class _NotJson(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_CHARS:
        raise _NumberTooLong(text)
    return float(text)


def _json_constant(text: str) -> float:
    # Python's json takes NaN and Infinity; JSON does not, and no field wants them.
    raise _NotJson(text)


async def _read_json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        # Strict: json.loads(bytes) decodes with "surrogatepass", which lets
        # UTF-8-encoded surrogates (ED A0 80) through as lone surrogates.
        text = raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise InvalidUnicodeError(f"The JSON body is not valid UTF-8: {exc}.") from exc
    try:
        body = json.loads(text, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise BodyFormatError(f"The JSON body cannot be parsed: {exc}.") from exc
    except RecursionError as exc:
        raise BodyTooDeepError(f"The JSON body nests deeper than {MAX_DEPTH} levels.") from exc
    except _NumberTooLong as exc:
        raise NumberTooLongError(
            f"The JSON body has a number of {len(exc.text)} characters ({exc.text[:20]}...); at most {MAX_NUMBER_CHARS}.",
            details={"max_chars": MAX_NUMBER_CHARS},
        ) from None
    except _NotJson as exc:
        raise BodyFormatError(f"The JSON body cannot be parsed: {exc.text} is not a JSON number.") from None
    if not isinstance(body, dict):
        raise BodyFormatError("The JSON body must be an object.")
    _check_strings(body)
    return body


def _check_strings(body: Any) -> None:
    """Refuse a body nested deeper than MAX_DEPTH or holding a lone surrogate in any key or string.

    A lone surrogate (JSON allows the escape "\\ud800") is not Unicode: it
    cannot be encoded as UTF-8, so the database, hashing and logging would
    each fail on it later. Iterative, so a deep body cannot exhaust the stack.
    """
    stack: list[tuple[Any, int, str]] = [(body, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if depth > MAX_DEPTH:
            raise BodyTooDeepError(f"The body nests deeper than {MAX_DEPTH} levels.", details={"max_depth": MAX_DEPTH})
        if isinstance(node, dict):
            for key, value in node.items():
                field = f"{path}[{key}]" if path else str(key)
                if isinstance(key, str) and _SURROGATE.search(key):
                    raise _unicode_error(field)
                stack.append((value, depth + 1, field))
        elif isinstance(node, list):
            stack.extend((value, depth + 1, f"{path}[{i}]") for i, value in enumerate(node))
        elif isinstance(node, str):
            if _SURROGATE.search(node):
                raise _unicode_error(path)
        elif isinstance(node, Upload):
            if node.filename and _SURROGATE.search(node.filename):
                raise _unicode_error(path)


def _unicode_error(field: str) -> InvalidUnicodeError:
    # The field name itself may hold the surrogate: make it printable before it goes into the answer.
    shown = field.encode("utf-8", "backslashreplace").decode("utf-8")
    return InvalidUnicodeError(
        f"{shown} holds a lone UTF-16 surrogate (like \\ud800), which is not Unicode text.", field=shown
    )


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
