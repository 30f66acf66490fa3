"""A hard cap on request body size, before any parsing.

Checked twice: against Content-Length up front (answered at once), and while
the body streams in (for chunked uploads that announce no length).
"""

from __future__ import annotations

import json

from lookalike.errors import RequestTooLargeError


class BodySizeLimit:
    def __init__(self, app, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await _reject(send, self._error(length))
            return
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Raised inside the route's body parsing, so the API's
                    # error handler answers it like any other 413.
                    raise self._error(seen)
            return message

        await self.app(scope, limited_receive, send)

    def _error(self, size: int) -> RequestTooLargeError:
        return RequestTooLargeError(
            f"The request body is over {self.max_bytes / 1e6:.0f} MB ({size / 1e6:.1f} MB or more).",
            details={"max_bytes": self.max_bytes},
        )


def _content_length(scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send, error: RequestTooLargeError) -> None:
    # The same shape as every other error answer (api/errors.py).
    body = json.dumps({"error": error.message, **error.to_dict()}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The client may still be sending; closing tells it to stop.
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": body})
