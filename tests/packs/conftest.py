"""A real `lookalike serve` with the fake prompt engine and an operator packs directory on the tiny base model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import FAKE_ENGINE_ENV, Server, photo_files  # noqa: F401 (photo_files is a fixture)
from tests.packs.packdata import OPERATOR_PACKS, write_packs


@pytest.fixture(scope="session")
def packs_dir(tmp_path_factory) -> Path:
    return write_packs(tmp_path_factory.mktemp("operator-packs"), OPERATOR_PACKS)


@pytest.fixture(scope="session")
def pack_server(tmp_path_factory, packs_dir) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("packs") / "data", env={**FAKE_ENGINE_ENV, "LOOKALIKE_PACKS_DIR": str(packs_dir)}
    )
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def pack_key(pack_server) -> dict:
    return pack_server.new_key("pack-user")


@pytest.fixture(scope="session")
def papi(pack_server, pack_key) -> Iterator[httpx.Client]:
    with pack_server.client(pack_key["key"]) as client:
        yield client
