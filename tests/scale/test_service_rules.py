"""The rules around the services: skip locally without them, fail on CI; celery, boto3 and psycopg stay off the default path."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.api.conftest import REPO

PG_TEST = "tests/scale/test_postgres.py::test_migrations_run_down_and_up_with_real_types"


def _pytest(env_update: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("LOOKALIKE_TEST_POSTGRES_URL", "CI")}
    env.update({k: v for k, v in env_update.items() if v is not None})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", PG_TEST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )


def test_missing_postgres_skips_locally_and_fails_on_ci():
    local = _pytest({})
    assert local.returncode == 0 and "1 skipped" in local.stdout and "LOOKALIKE_TEST_POSTGRES_URL" in local.stdout, local.stdout
    ci = _pytest({"CI": "true"})
    assert ci.returncode == 1 and "CI=true" in ci.stdout, ci.stdout


def test_default_paths_import_no_scale_out_library():
    code = (
        "import sys, subprocess\n"
        "from lookalike.cli.app import app\n"
        "from lookalike.api.app import create_app\n"
        "from lookalike.config import Settings\n"
        "create_app(Settings())\n"
        "print(sorted(m for m in ('celery', 'kombu', 'boto3', 'botocore', 'psycopg', 'redis') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
