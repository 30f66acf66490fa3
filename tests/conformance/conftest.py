"""Fixtures shared by the conformance tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sd15_faceid(tmp_path_factory):
    """(root, diffusers folder, adapter folder): the small SD1.5 layout with a FaceID ``.bin``, written once.

    Tests read the two folders and write anything else under their own
    directories (``root`` is shared: put nothing there that another test
    could also write).
    """
    from .layouts import write_sd15_with_faceid

    root = tmp_path_factory.mktemp("sd15-faceid")
    base, adapter = write_sd15_with_faceid(root / "made", seed=0)
    return root, base, adapter
