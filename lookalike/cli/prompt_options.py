"""The CLI's prompt flags, made from ``GenerationOptions``: a new option gets its flag with no CLI change.

``--num-images``, ``--cfg-scale``, ``--face-swap``... are the option's name
with dashes (or the ``cli`` name its field gives, e.g. ``--width`` for
``w``); help texts are the fields' descriptions.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from lookalike.prompts.options import OPTION_FIELDS, GenerationOptions, option_kind


def flag_name(name: str) -> str:
    extra = GenerationOptions.model_fields[name].json_schema_extra or {}
    return str(extra.get("cli") or "--" + name.replace("_", "-"))


def _parameter(name: str) -> inspect.Parameter:
    info = GenerationOptions.model_fields[name]
    kind = option_kind(name)
    if kind is bool:
        # A flag that is on or absent: off is every option's default.
        annotation: Any = Annotated[bool, typer.Option(flag_name(name), help=info.description)]
        default: Any = False
    else:
        annotation = Annotated[kind | None, typer.Option(flag_name(name), help=info.description, show_default=False)]
        default = None
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def with_prompt_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` one flag per prompt option; it receives them as ``options`` (only those given)."""
    signature = inspect.signature(command, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values() if p.name != "options"]
    first, rest = own[:1], own[1:]  # the positional TEXT argument stays first
    added = [_parameter(name) for name in OPTION_FIELDS if name != "negative_prompt"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in OPTION_FIELDS if name in kwargs}
        options = {name: value for name, value in given.items() if value is not None and value is not False}
        return command(options=options, **kwargs)

    parameters = [*first, *added, *rest]
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper
