"""Root of the `lookalike` command. Sub-commands live in their own modules.

Nothing heavy is imported here: `lookalike --help` must stay fast, so each
command imports what it needs when it runs.
"""

from __future__ import annotations

import typer

from lookalike.cli.demo_cmd import demo
from lookalike.cli.faces_cmd import faces_app
from lookalike.cli.keys_cmd import keys_app
from lookalike.cli.models_cmd import models_app
from lookalike.cli.prompts_cmd import prompts_app
from lookalike.cli.serve_cmd import serve
from lookalike.cli.tunes_cmd import tunes_app
from lookalike.cli.worker_cmd import worker

app = typer.Typer(
    name="lookalike",
    help="Studio-quality portraits of a person from a few photos, with no training.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(faces_app, name="faces")
app.add_typer(tunes_app, name="tunes")
app.add_typer(models_app, name="models")
app.add_typer(prompts_app, name="prompts")
app.command("demo")(demo)
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.command("worker")(worker)


def main() -> None:
    app()
