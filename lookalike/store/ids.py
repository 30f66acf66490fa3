"""Where public ids start.

``/tunes/{id}/prompts`` takes a user's tune id or a gallery (base model) id
in the same place, as Astria does, so the two ranges must never meet.
Gallery ids are Astria's public ones (690204 Realistic Vision v5.1, 1504944
Flux1.dev, ...), all far below this; a test checks every catalogue entry.
Migration 0005 starts the tunes' id sequence here on SQLite and PostgreSQL;
tunes made before it keep their ids.
"""

from __future__ import annotations

FIRST_USER_TUNE_ID = 10_000_001
