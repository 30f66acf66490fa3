"""Blob folders a killed process left without rows, and the sweep that removes them (store/orphans.py).

SQLite and the local blob store here; the same on PostgreSQL with a real
``kill -9`` of ``lookalike serve`` in tests/scale/test_orphan_sweep_postgres.py,
and the stores' listing on S3 in tests/scale/test_blob_stores.py.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import time

import pytest
from PIL import Image
from sqlalchemy import delete, select

from lookalike.jobs.engine import OutputImage
from lookalike.jobs.prompts import NewPrompt, PromptStore
from lookalike.jobs.queue import JobQueue
from lookalike.store.tables import PromptRow, TuneRow
from lookalike.tunes.photo_check import PhotoInput
from tests.api.conftest import REPO

HOUR = 3600.0


def _jpeg(colour=(120, 90, 60)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 255, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _mock_tune(services, title: str = "t", photos: int = 1) -> int:
    # Astria's mock branch: photos are only decoded (no face model), and stored like any tune's.
    tune = services.tunes.create(title=title, name="woman", photos=[PhotoInput(_jpeg(), "a.jpg")] * photos, branch="fast")
    return tune["id"]


def _age(path, seconds: float = 2 * HOUR) -> None:
    """Make a folder and everything in it look ``seconds`` old."""
    when = time.time() - seconds
    for entry in [path, *path.rglob("*")]:
        os.utime(entry, (when, when))


def _drop_row(services, table, row_id: int) -> None:
    """What a process killed between deleting a row and deleting its files leaves: the files."""
    with services.sessions() as session:
        session.execute(delete(table).where(table.id == row_id))
        session.commit()


class Killed(BaseException):
    """Stands for SIGKILL inside this process: nothing after it runs, no ``except Exception`` sees it."""


# -- the stores' listing -----------------------------------------------------------------


def test_local_store_lists_folders_and_their_last_change(services):
    blobs = services.blobs
    assert blobs.list_prefixes("tunes") == [] and blobs.last_modified("tunes/1") is None
    for key in ("tunes/2/a.png", "tunes/10/b/c.png", "tunes/loose.png"):
        blobs.put(key, b"x")
    assert blobs.list_prefixes("tunes") == ["10", "2"]  # folders only, sorted by name
    assert blobs.list_prefixes("tunes/10") == ["b"]
    _age(services.settings.blob_dir / "tunes" / "10")
    assert blobs.last_modified("tunes/10") < time.time() - HOUR
    assert blobs.last_modified("tunes/2") > time.time() - 60


# -- tunes -------------------------------------------------------------------------------


def test_a_create_killed_before_its_commit_leaves_files_the_next_create_clears(services):
    """A real SIGKILL between the crops' writes and the commit, in a child process.

    SQLite gives the id of an insert that never committed out again, so the
    next create lands on the orphan folder: it clears it before writing.
    """
    first = _mock_tune(services, "first")
    script = textwrap.dedent(
        f"""
        import os, signal
        from sqlalchemy.orm import Session
        from lookalike.config import Settings
        from lookalike.services import Services
        from lookalike.tunes.photo_check import PhotoInput
        from tests.store.test_orphan_sweep import _jpeg

        def killed_at_commit(self):
            os.kill(os.getpid(), signal.SIGKILL)

        services = Services(Settings(data_dir={str(services.settings.data_dir)!r}))
        Session.commit = killed_at_commit
        services.tunes.create(title="killed", name="woman", photos=[PhotoInput(_jpeg(), "a.jpg")] * 3, branch="fast")
        """
    )
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert child.returncode == -9, child.stderr
    orphan = services.settings.blob_dir / "tunes" / str(first + 1)
    assert sorted(p.name for p in orphan.iterdir()) == [f"photo-{i}-plain.png" for i in range(3)]
    with services.sessions() as session:
        assert session.scalars(select(TuneRow.id)).all() == [first]
    # Not swept, however old: it is above the newest row, where the next create will land.
    _age(orphan)
    assert services.tunes.sweep_orphan_blobs(grace_s=0) == []
    assert _mock_tune(services, "next", photos=1) == first + 1
    assert sorted(p.name for p in orphan.iterdir()) == ["photo-0-plain.png"]


def test_the_sweep_removes_tune_folders_no_row_claims_and_keeps_fresh_ones(services):
    old, fresh, kept = (_mock_tune(services, title) for title in ("old", "fresh", "kept"))
    tunes = services.settings.blob_dir / "tunes"
    _drop_row(services, TuneRow, old)
    _drop_row(services, TuneRow, fresh)
    _age(tunes / str(old))
    _age(tunes / str(kept))  # old files, but its row is there
    # The fresh folder may be a create in progress in another process: kept within the grace period.
    assert services.tunes.sweep_orphan_blobs(grace_s=HOUR) == [f"tunes/{old}"]
    assert not (tunes / str(old)).exists()
    assert (tunes / str(fresh)).is_dir() and (tunes / str(kept)).is_dir()
    assert services.tunes.sweep_orphan_blobs(grace_s=0) == [f"tunes/{fresh}"]
    assert services.tunes.get(kept)["id"] == kept and (tunes / str(kept)).is_dir()
    # Folders that are not tune ids are not ours.
    services.blobs.put("tunes/notes/x.txt", b"x")
    assert services.tunes.sweep_orphan_blobs(grace_s=0) == []


def test_a_database_without_tunes_never_empties_the_store(services):
    services.blobs.put("tunes/10000001/photo-0-crop112.png", b"x")
    _age(services.settings.blob_dir / "tunes")
    assert services.tunes.sweep_orphan_blobs(grace_s=0) == []


# -- prompts -----------------------------------------------------------------------------


def _queued(store: PromptStore, text: str = "p") -> int:
    row, _ = store.create(
        NewPrompt(account_id=1, tune_id=999, base_model_id="tiny", text=text, negative_prompt="",
                  options={"target": "gallery", "resolved": {"num_images": 1, "seed": 7}})
    )
    return row.id


def _killed_sessions():
    raise Killed


def test_an_attempt_killed_before_complete_committed_leaves_a_folder_the_sweep_removes(services):
    store, queue = services.prompt_store, services.queue
    prompt_id = _queued(store)
    image = OutputImage(_png(), seed=7, width=8, height=8)
    assert queue.claim(prompt_id, worker="w1", lease_s=60).attempt == 1
    # Attempt 1 writes its image, then the process dies before the commit.
    with pytest.raises(Killed):
        JobQueue(_killed_sessions, services.blobs).complete(prompt_id, [image], attempt=1)
    attempts = services.settings.blob_dir / "prompts" / str(prompt_id)
    assert (attempts / "a1" / "0.png").is_file()
    # The restart puts it back in line; attempt 2 runs it to the end.
    assert queue.requeue_interrupted() == 1
    assert queue.claim(prompt_id, worker="w2", lease_s=60).attempt == 2
    assert queue.complete(prompt_id, [image], attempt=2).status == "succeeded"
    assert queue.sweep_orphan_blobs(grace_s=HOUR) == []  # written just now: perhaps still being finished
    _age(attempts)
    assert queue.sweep_orphan_blobs(grace_s=HOUR) == [f"prompts/{prompt_id}/a1"]
    assert sorted(p.name for p in attempts.iterdir()) == ["a2"]
    assert store.image(prompt_id, 0, account_id=1) == image.png


def test_the_running_attempt_and_deleted_prompts(services):
    store, queue = services.prompt_store, services.queue
    image = OutputImage(_png(), seed=7, width=8, height=8)
    running, deleted, newest = (_queued(store, text) for text in ("running", "deleted", "newest"))
    # A prompt on its second attempt, which is writing its images right now.
    queue.claim(running, worker="w1", lease_s=60)
    services.blobs.put(f"prompts/{running}/a1/0.png", image.png)
    queue.requeue_interrupted()
    queue.claim(running, worker="w2", lease_s=60)
    services.blobs.put(f"prompts/{running}/a2/0.png", image.png)
    # A finished prompt whose row was deleted, and the process killed before its files went.
    queue.claim(deleted, worker="w1", lease_s=60)
    queue.complete(deleted, [image], attempt=1)
    _drop_row(services, PromptRow, deleted)
    removed = queue.sweep_orphan_blobs(grace_s=0)
    assert sorted(removed) == sorted([f"prompts/{running}/a1", f"prompts/{deleted}"])
    assert services.blobs.exists(f"prompts/{running}/a2/0.png")
    assert newest > deleted


def test_services_sweep_both_and_in_the_background(services, monkeypatch):
    tune = _mock_tune(services, "gone")
    _mock_tune(services, "newer")
    _drop_row(services, TuneRow, tune)
    _age(services.settings.blob_dir / "tunes" / str(tune))
    assert services.settings.blob_sweep_grace_s == HOUR
    services.start_blob_sweep().join(10)
    assert not (services.settings.blob_dir / "tunes" / str(tune)).exists()

    def unreachable(*_args, **_kwargs):
        raise OSError("the store is away")

    # A failing sweep is logged and the process goes on.
    monkeypatch.setattr(type(services.blobs), "list_prefixes", unreachable)
    thread = services.start_blob_sweep()
    thread.join(10)
    assert not thread.is_alive()
