"""The import table in docs/ARCHITECTURE.md is the law: every ``lookalike`` import, lazy ones included, obeys it.

The table is read from the document itself, so the prose and the code
cannot drift apart: a new import across rooms fails here until the table
(and the reasoning beside it) says it may.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lookalike"
ROW = re.compile(r"^\| `lookalike\.(\w+)` \|[^|]*\| (?P<may>[^|]*) \|\s*$")


def allowed_imports() -> dict[str, set[str] | None]:
    table: dict[str, set[str] | None] = {}
    for line in (ROOT / "docs" / "ARCHITECTURE.md").read_text().splitlines():
        match = ROW.match(line)
        if match:
            may = match.group("may").strip()
            table[match.group(1)] = None if may == "anything" else set(re.findall(r"`(\w+)`", may))
    return table


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lookalike"


def imports_by_room() -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        room = room_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lookalike"):
                targets = [f"lookalike.{a.name}" for a in node.names] if node.module == "lookalike" else [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("lookalike.")]
            for target in targets:
                if room_of(target) != room:
                    found.setdefault(room, set()).add((room_of(target), f"{module} imports {target}"))
    return found


def test_every_room_is_in_the_table():
    table = allowed_imports()
    rooms = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if p.name != "__init__.py" and not p.name.startswith("__")}
    rooms = {r for r in rooms if (PACKAGE / r).is_dir() or (PACKAGE / f"{r}.py").is_file()}
    assert rooms <= set(table), f"rooms missing from docs/ARCHITECTURE.md: {sorted(rooms - set(table))}"


def test_imports_follow_the_table():
    table = allowed_imports()
    broken = []
    for room, edges in imports_by_room().items():
        may = table.get(room, set())
        if may is None:
            continue
        broken += [why for target, why in edges if target not in may]
    assert not broken, "imports the table in docs/ARCHITECTURE.md does not allow:\n" + "\n".join(sorted(broken))


def test_the_table_has_no_cycle():
    table = {room: may or set() for room, may in allowed_imports().items() if may is not None}
    state: dict[str, str] = {}

    def visit(room: str, path: list[str]) -> None:
        if state.get(room) == "done":
            return
        assert state.get(room) != "open", f"cycle: {' -> '.join([*path, room])}"
        state[room] = "open"
        for below in table.get(room, ()):
            visit(below, [*path, room])
        state[room] = "done"

    for room in table:
        visit(room, [])
