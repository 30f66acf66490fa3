"""Outbound HTTP to URLs that users give (callbacks, photos by URL), under one address policy.

- ``addresses``: which IP addresses a user's URL may reach, and resolving a
  host once.
- ``pinned``: one HTTP exchange with the connection pinned to an address that
  was checked (no second DNS lookup between the check and the connect).
- ``safe_fetch``: fetching a photo by URL: redirects re-checked hop by hop,
  a byte cap, a total time limit, JPEG/PNG/WebP only.

Only the standard library, httpcore and ``lookalike.errors`` are imported.
"""
