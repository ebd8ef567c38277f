"""Alembic environment: the engine comes from mlsteward, never from an ini file."""

from __future__ import annotations

from alembic import context

from mlsteward._schema import load_all_tables

metadata = load_all_tables()

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
