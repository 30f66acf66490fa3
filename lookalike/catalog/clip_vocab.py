"""CLIP's BPE vocabulary, offline: the tokenizer files of SD1.5's text encoder, built from OpenAI's merges.

SD1.5's tokenizer (``openai/clip-vit-large-patch14``, copied into every SD1.5
repo's ``tokenizer/``) is OpenAI CLIP's byte-level BPE. Its whole content is
OpenAI's ``bpe_simple_vocab_16e6.txt.gz`` (MIT licence): the first 48,894
merges, from which CLIP's ``SimpleTokenizer`` derives its 49,408 tokens
(256 byte symbols, the same with ``</w>``, one token per merge, then
``<|startoftext|>`` and ``<|endoftext|>``). transformers' ``CLIPTokenizer``
reads the same two things as ``vocab.json`` and ``merges.txt``; we write
them from the merges file, so nothing is fetched for a user's checkpoint.

The merges file is found, first wins, in the models directory (``lookalike
models pull clip_bpe`` takes it out of the PyPI wheel of ``open_clip_torch``
3.3.0, its URL and digest pinned below) or in an installed ``open_clip``
package's folder (``make install`` installs ``open_clip_torch`` with
``--no-deps``: only this data file is used; open_clip's code, which needs
torchvision, is never imported). Either copy is checked against the digest.
tests/catalog/test_single_file_configs.py checks the tokens against
open_clip's own ``SimpleTokenizer`` (OpenAI's reference code).
"""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

from lookalike.catalog.files import ModelPack, RemoteFile, verify
from lookalike.catalog.tiny import bytes_to_unicode
from lookalike.errors import ModelUnavailableError

BPE_FILENAME = "bpe_simple_vocab_16e6.txt.gz"
# CLIP's vocabulary: 49,152 - 256 byte symbols - 2 special tokens = 48,894 merges.
NUM_MERGES = 49152 - 256 - 2
VOCAB_SIZE = 2 * 256 + NUM_MERGES + 2
START, END = "<|startoftext|>", "<|endoftext|>"

# The wheel's URL as PyPI's simple index gives it; the digest is the member's,
# computed here from that wheel (whose own sha256 PyPI publishes:
# c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce).
CLIP_BPE = ModelPack(
    id="clip_bpe",
    title="CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz from PyPI open_clip_torch 3.3.0), for single-file checkpoints",
    license="MIT (OpenAI CLIP)",
    files=(
        RemoteFile(
            url="https://files.pythonhosted.org/packages/37/b5/"
            "41c315ccd94ca332ead3e832e83eee343ab245005c3e43d9d3e75eae34eb/"
            "open_clip_torch-3.3.0-py3-none-any.whl",
            path=f"tokenizers/{BPE_FILENAME}",
            sha256="924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
            archive_member=f"open_clip/{BPE_FILENAME}",
        ),
    ),
)


def _installed_copy() -> Path | None:
    spec = importlib.util.find_spec("open_clip")  # the folder only: importing open_clip needs torchvision
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BPE_FILENAME
    return path if path.is_file() else None


def find_bpe(models_dir: Path) -> Path:
    """CLIP's merges file: pulled into ``models_dir``, else the installed open_clip package's copy."""
    remote = CLIP_BPE.files[0]
    pulled = Path(models_dir) / remote.path
    path = pulled if pulled.is_file() else _installed_copy()
    if path is None:
        raise ModelUnavailableError(
            "A single-file checkpoint needs CLIP's BPE vocabulary for its tokenizer, and it is not here.",
            hint=f"Run `{CLIP_BPE.pull_command}` (one 1.3 MB file from PyPI), "
            "or `pip install --no-deps open_clip_torch==3.3.0`.",
            details={"model": CLIP_BPE.id, "missing": str(pulled)},
        )
    verify(path, remote.sha256)  # a different file there is an error, not a reason to look elsewhere
    return path


def bpe_available(models_dir: Path) -> bool:
    """Whether ``find_bpe`` would find a file (no digest check: a readiness look-up)."""
    return (Path(models_dir) / CLIP_BPE.files[0].path).is_file() or _installed_copy() is not None




def vocab_and_merges(bpe_gz: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's token ids and merges, as ``SimpleTokenizer.__init__`` derives them from the merges file."""
    lines = gzip.decompress(Path(bpe_gz).read_bytes()).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]  # line 0 is a version header
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START, END]
    vocab = {token: i for i, token in enumerate(tokens)}
    if len(vocab) != VOCAB_SIZE or any(len(m) != 2 for m in merges):
        raise ModelUnavailableError(
            f"{bpe_gz} is not CLIP's BPE vocabulary ({len(vocab)} tokens, expected {VOCAB_SIZE}).",
            hint=f"Delete it and run `{CLIP_BPE.pull_command}`.",
            details={"model": CLIP_BPE.id},
        )
    return vocab, merges


def write_vocab_files(bpe_gz: Path, folder: Path) -> None:
    """``vocab.json`` and ``merges.txt`` in the layout transformers' ``CLIPTokenizer`` reads."""
    vocab, merges = vocab_and_merges(bpe_gz)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    body = "\n".join(" ".join(m) for m in merges)
    (folder / "merges.txt").write_text("#version: 0.2\n" + body + "\n", encoding="utf-8")
