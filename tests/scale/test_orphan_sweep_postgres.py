"""A real `kill -9` of `lookalike serve` between a tune's file writes and its commit, on PostgreSQL.

The test holds the server's commit, not the server: a deferred constraint
trigger that the test installs in its own database (no product hook) makes
the COMMIT of a tune titled "held" wait on an advisory lock the test holds.
The crops are written by then; the server is killed; PostgreSQL aborts the
transaction. The files stay with no row, and a later start's sweep removes
them once a newer tune exists and they are older than the grace period.
"""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from tests.api.conftest import Server, photo_upload
from tests.scale.conftest import _libpq, make_key

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

LOCK = 727_272

HOLD_COMMIT = f"""
CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({LOCK});
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER hold_tune_commit AFTER INSERT ON tunes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.title = 'held') EXECUTE FUNCTION hold_commit();
"""


def _mock_tune(client: httpx.Client, title: str, photo) -> httpx.Response:
    return client.post(
        "/tunes",
        data={"tune[title]": title, "tune[name]": "woman", "tune[branch]": "fast"},
        files=[photo_upload(photo), photo_upload(photo)],
    )


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen in {timeout} s")
        time.sleep(0.05)


def test_a_server_killed_mid_create_leaves_files_a_later_start_removes(tmp_path, pg_url, photo_files):
    import psycopg

    data = tmp_path / "data"
    server = Server(data, env={"LOOKALIKE_DATABASE_URL": pg_url, "LOOKALIKE_BLOB_SWEEP_GRACE_S": "1"})
    tunes = data / "blobs" / "tunes"
    photo = photo_files["1.jpg"]
    key = make_key(pg_url, data)
    try:
        server.start(wait_ready=False)  # mock tunes need no face model
        with server.client(key) as client:
            first = _mock_tune(client, "first", photo).json()["id"]
        orphan = tunes / str(first + 1)

        with psycopg.connect(_libpq(pg_url), autocommit=True) as conn:
            conn.execute(HOLD_COMMIT)
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
            answers: list[object] = []

            def post_held() -> None:
                try:
                    with server.client(key) as client:
                        answers.append(_mock_tune(client, "held", photo))
                except httpx.HTTPError as exc:  # the server dies under it
                    answers.append(exc)

            poster = threading.Thread(target=post_held)
            poster.start()
            _wait_for(lambda: (orphan / "photo-1-plain.png").is_file(), 60, "the held tune's files")
            server.stop(signal.SIGKILL)
            # As the kernel does for a killed process: its connection goes, and with it the transaction.
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
            conn.execute("DROP TRIGGER hold_tune_commit ON tunes; DROP FUNCTION hold_commit()")
            poster.join(30)
            assert isinstance(answers[0], httpx.HTTPError)
            assert conn.execute("SELECT id FROM tunes ORDER BY id").fetchall() == [(first,)]
        assert sorted(p.name for p in orphan.iterdir()) == ["photo-0-plain.png", "photo-1-plain.png"]

        # The next start sweeps, but the orphan is above the newest tune: kept (ids are not reused here).
        server.start(wait_ready=False)
        with server.client(key) as client:
            newer = _mock_tune(client, "newer", photo).json()["id"]
        assert newer == first + 2 and orphan.is_dir()
        server.stop()
        time.sleep(1.1)  # older than LOOKALIKE_BLOB_SWEEP_GRACE_S
        server.start(wait_ready=False)
        _wait_for(lambda: not orphan.exists(), 30, "the sweep")
        with server.client(key) as client:
            for tune_id in (first, newer):
                assert client.get(f"/tunes/{tune_id}").status_code == 200
        assert sorted(p.name for p in tunes.iterdir()) == sorted([str(first), str(newer)])
    finally:
        server.stop()
