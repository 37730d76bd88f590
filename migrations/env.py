"""Alembic environment: the schema is bot.infra.db's models; the URL comes from bot.infra.settings."""

from __future__ import annotations

from alembic import context

from bot.infra import db, settings

config = context.config
url = config.get_main_option("sqlalchemy.url") or settings.load().sqlalchemy_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=db.Base.metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with db.engine(url).connect() as connection:
        context.configure(connection=connection, target_metadata=db.Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
