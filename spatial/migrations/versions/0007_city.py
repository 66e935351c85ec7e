"""your own city: division codes of any city, ancestors on every division, one-way roads, base-map versions

- ``basemap.admin_division`` takes any code of 1–12 ASCII digits (New York's borough 1 and
  community district 101 as well as GB/T 2260's 6/9/12 digits); each division carries its
  ancestors' codes (``district_code``, ``street_code``; its own code at its own level), so
  nothing reads the hierarchy out of code prefixes.
- Every column holding a division code is widened to 12 characters.
- ``basemap.road.oneway``: 1 drivable only along the line, -1 only against it, 0 both ways.
- ``basemap.building.name``.
- ``basemap.version``: one row per loaded base map (the profile, counts, the check's report,
  the initial view); ``basemap_archive`` keeps the data of earlier versions for comparison and
  rollback.

Revision ID: 0007_city
Revises: 0003_geocoding, 0004_incidents
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_city"
down_revision = ("0003_geocoding", "0004_incidents")
branch_labels = None
depends_on = None

CODE_COLUMNS = [
    ("basemap", "road", "district_code", 6),
    ("basemap", "address", "district_code", 6),
    ("basemap", "address", "street_code", 9),
    ("basemap", "place_search", "district_code", 6),
    ("grid", "unit_cell", "district_code", 6),
    ("grid", "unit_cell", "street_code", 9),
    ("grid", "current_cell", "district_code", 6),
    ("grid", "current_cell", "street_code", 9),
    ("incidents", "routing_rule", "district_code", 6),
    ("incidents", "routing_rule", "street_code", 9),
]
OLD_CODE_RULE = (
    "(level = 'district' AND code ~ '^[0-9]{6}$') OR (level = 'street' AND code ~ '^[0-9]{9}$') "
    "OR (level = 'community' AND code ~ '^[0-9]{12}$')"
)


def upgrade() -> None:
    for schema, table, column, _ in CODE_COLUMNS:
        op.alter_column(table, column, type_=sa.String(12), schema=schema)
    op.drop_constraint("ck_admin_division_code_digits", "admin_division", schema="basemap")
    op.create_check_constraint(
        op.f("ck_admin_division_code_digits"),
        "admin_division",
        "code ~ '^[0-9]{1,12}$'",
        schema="basemap",
    )
    for column in ("district_code", "street_code"):
        op.add_column(
            "admin_division", sa.Column(column, sa.String(12), nullable=True), schema="basemap"
        )
    op.execute(
        "UPDATE basemap.admin_division d SET district_code = CASE d.level "
        "WHEN 'district' THEN d.code WHEN 'street' THEN d.parent_code "
        "ELSE (SELECT p.parent_code FROM basemap.admin_division p WHERE p.code = d.parent_code) END, "
        "street_code = CASE d.level WHEN 'street' THEN d.code WHEN 'community' THEN d.parent_code END"
    )
    op.add_column(
        "road",
        sa.Column("oneway", sa.SmallInteger(), server_default="0", nullable=False),
        schema="basemap",
    )
    op.create_check_constraint(
        op.f("ck_road_oneway"), "road", "oneway IN (-1, 0, 1)", schema="basemap"
    )
    op.add_column("building", sa.Column("name", sa.Text(), nullable=True), schema="basemap")
    op.create_table(
        "version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("city_code", sa.String(40), nullable=False),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("profile", postgresql.JSONB(), nullable=False),
        sa.Column("counts", postgresql.JSONB(), nullable=False),
        sa.Column("report", postgresql.JSONB(), nullable=False),
        sa.Column("view", postgresql.JSONB(), nullable=False),
        sa.Column("loaded_by", sa.Text(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("is_current", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False),
        schema="basemap",
    )
    op.create_index(
        "ix_version_one_current",
        "version",
        ["is_current"],
        unique=True,
        schema="basemap",
        postgresql_where=sa.text("is_current"),
    )
    op.execute("CREATE SCHEMA IF NOT EXISTS basemap_archive")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS basemap_archive CASCADE")
    op.drop_index("ix_version_one_current", table_name="version", schema="basemap")
    op.drop_table("version", schema="basemap")
    op.drop_column("building", "name", schema="basemap")
    op.drop_constraint("ck_road_oneway", "road", schema="basemap")
    op.drop_column("road", "oneway", schema="basemap")
    for column in ("district_code", "street_code"):
        op.drop_column("admin_division", column, schema="basemap")
    op.drop_constraint("ck_admin_division_code_digits", "admin_division", schema="basemap")
    op.execute("DELETE FROM basemap.admin_division WHERE NOT (" + OLD_CODE_RULE + ")")
    op.create_check_constraint(
        op.f("ck_admin_division_code_digits"), "admin_division", OLD_CODE_RULE, schema="basemap"
    )
    for schema, table, column, width in CODE_COLUMNS:
        op.execute(f"UPDATE {schema}.{table} SET {column} = NULL WHERE length({column}) > {width}")
        op.alter_column(table, column, type_=sa.String(width), schema=schema)
