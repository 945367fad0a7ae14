"""Alembic environment: runs on the connection that :func:`convrec.web.db.migrate` passes."""

from __future__ import annotations

from alembic import context

from convrec.web.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from convrec.settings import get_settings
        from convrec.web.db import make_engine

        url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
        engine = make_engine(url)
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        engine.dispose()
        return
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
