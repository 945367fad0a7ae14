"""Accounts done right: usernames unique after NFKC case folding, failed log-ins counted.

Adds ``users.username_key`` (the NFKC case-folded username, unique), filled in for the
existing accounts (when two old accounts fold to the same key, the later one keeps working
under ``key#id``, so that nobody is locked out), the ``login_failures`` table (failed log-ins
per account and per client address, shared by every worker and machine) and an index on
``auth_tokens.expires_at`` for the purge of expired sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _key(username: str) -> str:
    # the same rule as convrec.web.security.username_key (a migration keeps its own copy:
    # it must keep doing what it did when it was written)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def upgrade() -> None:
    op.add_column("users", sa.Column("username_key", sa.String(64), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("username", sa.String),
                     sa.column("username_key", sa.String))
    connection = op.get_bind()
    seen: set[str] = set()
    for user_id, username in connection.execute(
        sa.select(users.c.id, users.c.username).order_by(users.c.id)
    ).all():
        key = _key(username)
        if key in seen:
            key = f"{key}#{user_id}"
        seen.add(key)
        connection.execute(users.update().where(users.c.id == user_id).values(username_key=key))
    op.create_index("ix_users_username_key", "users", ["username_key"], unique=True)
    op.create_table(
        "login_failures",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.Integer(), nullable=False),
    )
    op.create_index("ix_auth_tokens_expires_at", "auth_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_tokens_expires_at", table_name="auth_tokens")
    op.drop_table("login_failures")
    op.drop_index("ix_users_username_key", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("username_key")
