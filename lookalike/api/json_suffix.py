"""Astria's ``url`` fields end in ``.json`` (``/tunes/12.json``): the same resource as without it.

An ASGI middleware strips the suffix from the path of resource routes
before routing, so ``GET /tunes/12.json`` and ``GET /tunes/12`` are one
route, and links copied from ``url`` fields work as they are.
"""

from __future__ import annotations

import re

# Only our resource paths; /openapi.json and static files keep their names.
_RESOURCE = re.compile(r"^/(tunes|prompts|gallery/tunes|packs|gallery/packs|p)(/[^/]+)*\.json$")


class JsonSuffix:
    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and _RESOURCE.match(scope["path"]):
            path = scope["path"][: -len(".json")]
            scope = {**scope, "path": path, "raw_path": path.encode("utf-8")}
        await self.app(scope, receive, send)
