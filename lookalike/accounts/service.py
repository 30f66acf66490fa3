"""Accounts and API keys: the only writer of their rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lookalike.accounts.keys import display_prefix, hash_key, new_callback_secret, new_key, same_hash
from lookalike.errors import AuthError, InvalidFieldError, NotFoundError
from lookalike.store.tables import AccountRow, ApiKeyRow, utcnow


@dataclass(frozen=True)
class Caller:
    """Who is calling: what the API's auth dependency hands to the routes."""

    account_id: int
    key_id: int


@dataclass(frozen=True)
class NewKey:
    key: str  # shown once, never stored
    key_id: int
    account_id: int
    name: str
    callback_secret: str | None  # only when the account was made with the key


@dataclass
class AccountService:
    sessions: sessionmaker[Session]

    def create_key(self, *, name: str, account_id: int | None = None) -> NewKey:
        """A new key for ``account_id``, or for a new account named ``name`` when it is None."""
        name = (name or "").strip()
        if not name or len(name) > 255:
            raise InvalidFieldError("A key needs a name of 1 to 255 characters.", field="name")
        key = new_key()
        with self.sessions() as session:
            secret = None
            if account_id is None:
                secret = new_callback_secret()
                account = AccountRow(name=name, callback_secret=secret, created_at=utcnow())
                session.add(account)
                session.flush()
                account_id = account.id
            elif session.get(AccountRow, account_id) is None:
                raise NotFoundError(f"There is no account {account_id}.", field="account")
            row = ApiKeyRow(
                account_id=account_id,
                name=name,
                prefix=display_prefix(key),
                key_hash=hash_key(key),
                created_at=utcnow(),
            )
            session.add(row)
            session.commit()
            return NewKey(key=key, key_id=row.id, account_id=account_id, name=name, callback_secret=secret)

    def authenticate(self, key: str | None) -> Caller:
        if not key:
            raise AuthError("Missing API key.")
        digest = hash_key(key)
        with self.sessions() as session:
            row = session.scalar(select(ApiKeyRow).where(ApiKeyRow.key_hash == digest))
        # The lookup is by an index on the hash; the constant-time compare keeps
        # the final decision free of early-exit timing all the same.
        if row is None or not same_hash(row.key_hash, digest) or row.revoked_at is not None:
            raise AuthError("Invalid API key.")
        return Caller(account_id=row.account_id, key_id=row.id)

    def list_keys(self) -> list[dict]:
        with self.sessions() as session:
            rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.id)).all()
            return [
                {
                    "id": r.id,
                    "account_id": r.account_id,
                    "name": r.name,
                    "prefix": r.prefix,
                    "created_at": r.created_at.isoformat() if r.created_at else None,
                    "revoked": r.revoked_at is not None,
                }
                for r in rows
            ]

    def revoke_key(self, key_id: int) -> None:
        with self.sessions() as session:
            row = session.get(ApiKeyRow, key_id)
            if row is None:
                raise NotFoundError(f"There is no key {key_id}.", field="key_id")
            row.revoked_at = row.revoked_at or utcnow()
            session.commit()

    def callback_secret(self, account_id: int) -> str:
        with self.sessions() as session:
            account = session.get(AccountRow, account_id)
            if account is None:
                raise NotFoundError(f"There is no account {account_id}.")
            return account.callback_secret
