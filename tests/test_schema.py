"""The ORM models and the migrations describe the same schema (Alembic's compare_metadata is empty)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ohlora_cli.catalog.db import open_catalog
from ohlora_cli.catalog.models import Base


def test_models_equal_the_migrated_schema(tmp_path):
    catalog = open_catalog(tmp_path / "fresh.db")  # created by running every migration
    try:
        with catalog.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    finally:
        catalog.close()
    assert diff == []


def test_a_drift_would_be_seen(tmp_path):
    """The check can fail: a model column the migrations lack is reported."""
    from sqlalchemy import Column, Integer, MetaData

    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["images"].append_column(Column("extra", Integer))
    catalog = open_catalog(tmp_path / "fresh.db")
    try:
        with catalog.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), drifted)
    finally:
        catalog.close()
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "extra")]
