"""Remote model files: locate on disk, fetch with a sha256 check, fail clearly offline."""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lookalike.errors import ModelIntegrityError, ModelUnavailableError

ProgressCallback = Callable[[int, int | None], None]  # bytes so far, total (None when unknown)


@dataclass(frozen=True)
class RemoteFile:
    """One file a model needs, as published upstream.

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
class ModelPack:
    """A named set of files that ``lookalike models pull ID`` fetches together."""

    id: str
    title: str
    license: str
    files: tuple[RemoteFile, ...] = field(default_factory=tuple)

    @property
    def pull_command(self) -> str:
        return f"lookalike models pull {self.id}"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _recorded_digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify(path: Path, expected: str | None) -> None:
    """Check ``path`` against the published digest, or the one recorded at download."""
    recorded = _recorded_digest_path(path)
    if expected is None and recorded.exists():
        expected = recorded.read_text().split()[0]
    if expected is None:
        return
    actual = sha256_of(path)
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
) -> list[Path]:
    """Download every missing file of ``pack``; verify all of them.

    Several files may come out of one zip (insightface packs): each archive
    is downloaded once per call.
    """
    import httpx  # only the pull path needs it

    archives: dict[str, Path] = {}
    out = []
    try:
        for remote in pack.files:
            target = models_dir / remote.path
            if not target.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    if remote.archive_member:
                        if remote.url not in archives:
                            archive = models_dir / (pack.id + ".archive.part")
                            _download_to(remote.url, archive, progress=progress, timeout=timeout, httpx=httpx)
                            archives[remote.url] = archive
                        _extract_member(archives[remote.url], remote.archive_member, target)
                    else:
                        partial = target.with_name(target.name + ".part")
                        _download_to(remote.url, partial, progress=progress, timeout=timeout, httpx=httpx)
                        os.replace(partial, target)
                except httpx.HTTPError as exc:
                    raise ModelUnavailableError(
                        f"Could not download {remote.url} for model '{pack.id}': {exc}.",
                        hint=f"Check the network and run `{pack.pull_command}` again, or copy the file to {target}.",
                        details={"model": pack.id, "url": remote.url},
                    ) from exc
                _accept_download(remote, target)
            else:
                verify(target, remote.sha256)
            out.append(target)
    finally:
        for archive in archives.values():
            archive.unlink(missing_ok=True)
    return out


def _download_to(url: str, partial: Path, *, progress, timeout, httpx) -> None:
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            response.raise_for_status()
            total = int(response.headers["content-length"]) if "content-length" in response.headers else None
            done = 0
            with partial.open("wb") as fh:
                for block in response.iter_bytes(1 << 20):
                    fh.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _accept_download(remote: RemoteFile, target: Path) -> None:
    """Check a fresh download against the published digest, or record its digest."""
    digest = sha256_of(target)
    if remote.sha256 and digest != remote.sha256.lower():
        target.unlink(missing_ok=True)
        raise ModelIntegrityError(
            f"Downloaded {remote.url} has sha256 {digest}, expected {remote.sha256}.",
            hint="The upstream file changed or the download was corrupted; try again.",
        )
    _recorded_digest_path(target).write_text(f"{digest}  {target.name}\n")


def _extract_member(archive: Path, member: str, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n == member or n.endswith("/" + member)]
        if not names:
            raise ModelUnavailableError(f"{member} is not inside the downloaded archive {archive.name}.")
        tmp = target.with_name(target.name + ".extract")
        with zf.open(names[0]) as src, tmp.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        os.replace(tmp, target)
