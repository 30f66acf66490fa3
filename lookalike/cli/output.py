"""How commands print results and errors: rich for people, one JSON object for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from lookalike.errors import LookalikeError

# Exit status for a rejected input or a known failure; typer itself uses 2 for
# usage errors, which are the same kind of mistake.
EXIT_REJECTED = 2

stdout = Console(soft_wrap=True, markup=False, highlight=False)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


@contextmanager
def reporting_errors(as_json: bool) -> Iterator[None]:
    """Turn a domain error into the CLI contract: message (or JSON) and exit 2."""
    try:
        yield
    except LookalikeError as exc:
        if as_json:
            print_json({"error": exc.to_dict()})
        else:
            where = f" (photo {exc.image_index})" if exc.image_index is not None else ""
            stderr.print(f"[bold red]error[/] {escape(f'[{exc.code}]{where}: {exc.message}')}", highlight=False)
            if exc.hint:
                stderr.print(f"hint: {escape(exc.hint)}", highlight=False)
        raise typer.Exit(EXIT_REJECTED) from exc
