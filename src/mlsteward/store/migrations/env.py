"""Alembic environment: the engine comes from mlsteward, never from an ini file."""

from __future__ import annotations

from alembic import context

from mlsteward._schema import load_all_tables
from mlsteward.data._search_index import include_search_index_name

metadata = load_all_tables()

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # Autogenerate leaves the full-text search objects of migration 0010 alone.
        include_name=include_search_index_name,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
