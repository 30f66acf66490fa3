"""The HTTP API (FastAPI): Astria-compatible routes, auth, errors. Build it with ``create_app``."""
