"""Alembic migrations build exactly the schema the models describe, on both backends."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from processes import setup
from processes.db import make_engine
from processes.models import Base


def test_migrated_schema_matches_the_models(db_url):
    engine = make_engine(db_url)
    setup.upgrade_database(engine)
    setup.upgrade_database(engine)  # a second upgrade is a no-op
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []
