"""Alembic environment. `serve.db.migrate` hands over its connection; the `alembic` command line
(alembic.ini at the repository root) connects to the database the settings name."""

from alembic import context
from sqlalchemy import Connection

from serve.db import create_db_engine
from serve.models import Base
from serve.settings import Settings


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = create_db_engine(Settings().resolved_database_url)
    with engine.begin() as own_connection:
        run(own_connection)
    engine.dispose()
