"""incidents: categories, routing rules, incidents, photos, the immutable event log, the public
copy; the grid's lattice columns and current-cell table

Revision ID: 0004_incidents
Revises: 0001
Create Date: 2026-11-22 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0004_incidents"
down_revision = "0001"
branch_labels = ("incidents",)
depends_on = None

# events are facts: inserted once, never changed or removed (not even by the owner role)
IMMUTABLE_EVENTS = """
CREATE FUNCTION incidents.refuse_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'incident events are immutable: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER incident_event_immutable BEFORE UPDATE OR DELETE ON incidents.incident_event
    FOR EACH ROW EXECUTE FUNCTION incidents.refuse_event_change();
CREATE TRIGGER incident_event_no_truncate BEFORE TRUNCATE ON incidents.incident_event
    FOR EACH STATEMENT EXECUTE FUNCTION incidents.refuse_event_change();
"""

# the public copy follows every insert and update of an incident, in the same transaction
PUBLIC_COPY = """
CREATE FUNCTION incidents.copy_public() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO incidents.incident_public AS p (
        id, category_code, category_zh, category_en, status, state, description, address,
        department_code, cell_code, community_code, street_code, district_code, reported_at,
        updated_at, closed_at, geom)
    SELECT NEW.id, NEW.category_code, c.name_zh, c.name_en,
           CASE WHEN NEW.state IN ('closed', 'not_registered', 'merged') THEN 'closed' ELSE 'open' END,
           NEW.state, NEW.description, NEW.address, NEW.department_code, NEW.cell_code,
           NEW.community_code, NEW.street_code, NEW.district_code, NEW.reported_at,
           NEW.updated_at, NEW.closed_at, NEW.geom
    FROM incidents.category c WHERE c.code = NEW.category_code
    ON CONFLICT (id) DO UPDATE SET
        category_code = EXCLUDED.category_code, category_zh = EXCLUDED.category_zh,
        category_en = EXCLUDED.category_en, status = EXCLUDED.status, state = EXCLUDED.state,
        description = EXCLUDED.description, address = EXCLUDED.address,
        department_code = EXCLUDED.department_code, cell_code = EXCLUDED.cell_code,
        community_code = EXCLUDED.community_code, street_code = EXCLUDED.street_code,
        district_code = EXCLUDED.district_code, updated_at = EXCLUDED.updated_at,
        closed_at = EXCLUDED.closed_at, geom = EXCLUDED.geom;
    RETURN NULL;
END $$;
CREATE TRIGGER incident_public_copy AFTER INSERT OR UPDATE ON incidents.incident
    FOR EACH ROW EXECUTE FUNCTION incidents.copy_public();
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS incidents")
    op.create_geospatial_table('current_cell',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('street_code', sa.String(length=9), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_current_cell')),
    schema='grid'
    )
    op.create_index(op.f('ix_current_cell_code'), 'current_cell', ['code'], unique=False, schema='grid')
    op.create_index('ix_current_cell_geom_gist', 'current_cell', ['geom'], unique=False, schema='grid', postgresql_using='gist')
    op.create_geospatial_table('incident_public',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('category_code', sa.String(length=4), nullable=False),
    sa.Column('category_zh', sa.Text(), nullable=False),
    sa.Column('category_en', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('department_code', sa.String(length=32), nullable=False),
    sa.Column('cell_code', sa.String(length=15), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('district_code', sa.String(length=12), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_public')),
    schema='incidents'
    )
    op.create_index('ix_incident_public_geom_gist', 'incident_public', ['geom'], unique=False, schema='incidents', postgresql_using='gist')
    op.create_table('routing_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('category_pattern', sa.String(length=4), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('street_code', sa.String(length=9), nullable=True),
    sa.Column('target', sa.String(length=32), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('catalogue_version', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_routing_rule')),
    schema='incidents'
    )
    op.create_table('category',
    sa.Column('code', sa.String(length=4), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('major_code', sa.String(length=2), nullable=False),
    sa.Column('major_name_zh', sa.Text(), nullable=False),
    sa.Column('major_name_en', sa.Text(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('department_code', sa.String(length=32), nullable=False),
    sa.Column('time_limits', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('catalogue_version', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{4}$'", name=op.f('ck_category_code_digits')),
    sa.CheckConstraint("kind IN ('component', 'event')", name=op.f('ck_category_kind')),
    sa.ForeignKeyConstraint(['department_code'], ['catalog.department.code'], name=op.f('fk_category_department_code')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_category')),
    schema='incidents'
    )
    op.create_geospatial_table('incident',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('category_code', sa.String(length=4), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('reporter_name', sa.Text(), nullable=True),
    sa.Column('reporter_contact', sa.Text(), nullable=True),
    sa.Column('reported_by', sa.Text(), nullable=True),
    sa.Column('reporter_token_id', sa.BigInteger(), nullable=True),
    sa.Column('external_id', sa.Text(), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('location_source', sa.String(length=16), nullable=False),
    sa.Column('geocode_confidence', sa.Float(), nullable=True),
    sa.Column('grid_version_id', sa.Integer(), nullable=True),
    sa.Column('cell_id', sa.BigInteger(), nullable=True),
    sa.Column('cell_code', sa.String(length=15), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('street_code', sa.String(length=12), nullable=True),
    sa.Column('district_code', sa.String(length=12), nullable=True),
    sa.Column('department_code', sa.String(length=32), nullable=False),
    sa.Column('routing', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('routing_flagged', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('suspended_from', sa.String(length=16), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=True),
    sa.Column('stage_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stage_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handle_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extension_minutes', sa.Integer(), nullable=False),
    sa.Column('extension_request', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('rework_count', sa.Integer(), nullable=False),
    sa.Column('handled_by', sa.Text(), nullable=True),
    sa.Column('merged_into', sa.BigInteger(), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("source IN ('inspector', 'hotline', 'public', 'video')", name=op.f('ck_incident_source')),
    sa.CheckConstraint("state IN ('reported', 'registered', 'not_registered', 'dispatched', 'handling', 'returned', 'handled', 'verified', 'closed', 'suspended', 'merged')", name=op.f('ck_incident_state')),
    sa.ForeignKeyConstraint(['category_code'], ['incidents.category.code'], name=op.f('fk_incident_category_code')),
    sa.ForeignKeyConstraint(['cell_id'], ['grid.unit_cell.id'], name=op.f('fk_incident_cell_id')),
    sa.ForeignKeyConstraint(['department_code'], ['catalog.department.code'], name=op.f('fk_incident_department_code')),
    sa.ForeignKeyConstraint(['merged_into'], ['incidents.incident.id'], name=op.f('fk_incident_merged_into')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident')),
    schema='incidents'
    )
    op.create_index('ix_incident_category_reported', 'incident', ['category_code', 'reported_at'], unique=False, schema='incidents')
    op.create_index(op.f('ix_incident_cell_code'), 'incident', ['cell_code'], unique=False, schema='incidents')
    op.create_index(op.f('ix_incident_department_code'), 'incident', ['department_code'], unique=False, schema='incidents')
    op.create_index('ix_incident_geom_gist', 'incident', ['geom'], unique=False, schema='incidents', postgresql_using='gist')
    op.create_index('ix_incident_state_due', 'incident', ['state', 'stage_due_at'], unique=False, schema='incidents')
    op.create_table('incident_event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_state', sa.String(length=16), nullable=True),
    sa.Column('to_state', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=True),
    sa.Column('actor_department', sa.String(length=32), nullable=True),
    sa.Column('token_id', sa.BigInteger(), nullable=True),
    sa.Column('department_code', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.incident.id'], name=op.f('fk_incident_event_incident_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_event')),
    schema='incidents'
    )
    op.create_index('ix_incident_event_incident_at', 'incident_event', ['incident_id', 'at'], unique=False, schema='incidents')
    op.create_table('photo',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('incident_id', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['event_id'], ['incidents.incident_event.id'], name=op.f('fk_photo_event_id')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.incident.id'], name=op.f('fk_photo_incident_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_photo')),
    schema='incidents'
    )
    op.create_index(op.f('ix_photo_incident_id'), 'photo', ['incident_id'], unique=False, schema='incidents')
    op.add_column('grid_version', sa.Column('crs_epsg', sa.Integer(), nullable=True), schema='grid')
    op.add_column('grid_version', sa.Column('origin_x', sa.Float(), nullable=True), schema='grid')
    op.add_column('grid_version', sa.Column('origin_y', sa.Float(), nullable=True), schema='grid')
    op.add_column('grid_version', sa.Column('code_field', sa.Text(), nullable=True), schema='grid')
    op.add_column('grid_version', sa.Column('report', postgresql.JSONB(astext_type=sa.Text()), nullable=True), schema='grid')
    op.add_column('unit_cell', sa.Column('lattice_row', sa.Integer(), nullable=True), schema='grid')
    op.add_column('unit_cell', sa.Column('lattice_col', sa.Integer(), nullable=True), schema='grid')
    op.execute(IMMUTABLE_EVENTS)
    op.execute(PUBLIC_COPY)


def downgrade() -> None:
    op.drop_column("unit_cell", "lattice_col", schema="grid")
    op.drop_column("unit_cell", "lattice_row", schema="grid")
    for column in ("report", "code_field", "origin_y", "origin_x", "crs_epsg"):
        op.drop_column("grid_version", column, schema="grid")
    op.drop_geospatial_table("current_cell", schema="grid")
    op.execute("DROP SCHEMA IF EXISTS incidents CASCADE")
