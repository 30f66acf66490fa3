"""The browser studio: static HTML, CSS and JavaScript served by `lookalike serve` at `/`.

It talks to the public HTTP API only, with the user's key, like any client.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
