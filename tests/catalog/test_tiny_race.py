"""Two processes making the tiny model in one folder at once: one writes it, neither loses it."""

from __future__ import annotations

import json
import threading
import time

from lookalike.catalog import tiny


def test_concurrent_ensures_write_once_and_keep_the_copy(tmp_path, monkeypatch):
    writes = []

    def slow_write(root):
        writes.append(root)
        time.sleep(0.3)  # long enough for the other caller to arrive mid-write
        (root / tiny.MARKER).write_text(json.dumps({"version": tiny.TINY_VERSION}))
        (root / "weights.bin").write_bytes(b"x")

    monkeypatch.setattr(tiny, "write_tiny_model", slow_write)
    results, errors = [], []

    def ensure():
        try:
            # flock is per open file description, so threads exclude each other as processes would.
            results.append(tiny.ensure_tiny_model(tmp_path))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not errors
    assert len(writes) == 1
    assert len(set(results)) == 1 and (results[0] / "weights.bin").is_file()
    assert not [p for p in tmp_path.rglob(".tiny-*")]  # no staging folder left behind
