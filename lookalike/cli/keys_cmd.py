"""`lookalike keys ...`: API keys for the HTTP service (each key belongs to one account)."""

from __future__ import annotations

from typing import Annotated

import typer

from lookalike.cli.output import print_json, reporting_errors, stdout

keys_app = typer.Typer(help="API keys for `lookalike serve`.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _accounts():
    from lookalike.accounts.service import AccountService
    from lookalike.cli.common import services

    return AccountService(services().sessions)


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A label for the key (and for its account when new).")],
    account: Annotated[
        int | None, typer.Option("--account", help="Add the key to this account; by default a new account is made.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Make a key and print it once; only its hash is stored."""
    with reporting_errors(as_json):
        new = _accounts().create_key(name=name, account_id=account)
    if as_json:
        print_json(
            {
                "key": new.key,
                "key_id": new.key_id,
                "account_id": new.account_id,
                "name": new.name,
                "callback_secret": new.callback_secret,
            }
        )
        return
    stdout.print(f"API key (shown once; keep it secret): {new.key}", highlight=False)
    stdout.print(f"key id {new.key_id}, account {new.account_id}", highlight=False)
    if new.callback_secret:
        stdout.print(f"callback signing secret of the new account: {new.callback_secret}", highlight=False)


@keys_app.command("list")
def list_keys(as_json: JsonFlag = False) -> None:
    """List keys (prefixes only)."""
    with reporting_errors(as_json):
        keys = _accounts().list_keys()
    if as_json:
        print_json(keys)
        return
    for key in keys:
        state = "revoked" if key["revoked"] else "active"
        stdout.print(f"{key['id']:>4}  {key['prefix']}...  account {key['account_id']}  {key['name']}  {state}", highlight=False)


@keys_app.command("revoke")
def revoke(key_id: int, as_json: JsonFlag = False) -> None:
    """Revoke a key: it answers 401 from now on."""
    with reporting_errors(as_json):
        _accounts().revoke_key(key_id)
    if as_json:
        print_json({"id": key_id, "revoked": True})
    else:
        stdout.print(f"Revoked key {key_id}.")
