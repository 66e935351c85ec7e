"""initial schema: catalog, basemap, thematic, grid, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-22 13:48:15.116491
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


SCHEMAS = ("catalog", "basemap", "thematic", "grid", "audit")

GEOMETRY_COLUMNS = [
    ("basemap", "admin_division"),
    ("basemap", "road"),
    ("basemap", "building"),
    ("basemap", "address"),
    ("basemap", "poi"),
    ("thematic", "emergency_facility"),
    ("thematic", "aq_station"),
    ("thematic", "aq_reading"),
    ("thematic", "city_component"),
    ("grid", "unit_cell"),
    ("catalog", "layer"),
]


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for schema in SCHEMAS:
        op.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    op.create_table('event',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('department_code', sa.String(length=32), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_event')),
    schema='audit'
    )
    op.create_geospatial_table('address',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('full_zh', sa.Text(), nullable=False),
    sa.Column('full_en', sa.Text(), nullable=False),
    sa.Column('province', sa.Text(), nullable=False),
    sa.Column('city', sa.Text(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('street_code', sa.String(length=9), nullable=True),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('road_zh', sa.Text(), nullable=False),
    sa.Column('road_en', sa.Text(), nullable=False),
    sa.Column('house_number', sa.String(length=16), nullable=False),
    sa.Column('building', sa.String(length=16), nullable=True),
    sa.Column('unit', sa.String(length=16), nullable=True),
    sa.Column('postcode', sa.String(length=16), nullable=True),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_address')),
    schema='basemap'
    )
    op.create_index(op.f('ix_address_district_code'), 'address', ['district_code'], unique=False, schema='basemap')
    op.create_geospatial_table('admin_division',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("(level = 'district' AND code ~ '^[0-9]{6}$') OR (level = 'street' AND code ~ '^[0-9]{9}$') OR (level = 'community' AND code ~ '^[0-9]{12}$')", name=op.f('ck_admin_division_code_digits')),
    sa.CheckConstraint("level IN ('district', 'street', 'community')", name=op.f('ck_admin_division_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['basemap.admin_division.code'], name=op.f('fk_admin_division_parent_code')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_admin_division')),
    schema='basemap'
    )
    op.create_index(op.f('ix_admin_division_level'), 'admin_division', ['level'], unique=False, schema='basemap')
    op.create_index(op.f('ix_admin_division_parent_code'), 'admin_division', ['parent_code'], unique=False, schema='basemap')
    op.create_geospatial_table('building',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('use', sa.String(length=16), nullable=False),
    sa.Column('floors', sa.Integer(), nullable=False),
    sa.Column('height_m', sa.Float(), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('address_id', sa.BigInteger(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_building')),
    schema='basemap'
    )
    op.create_index(op.f('ix_building_community_code'), 'building', ['community_code'], unique=False, schema='basemap')
    op.create_geospatial_table('poi',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('aliases', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('former_names', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('address_id', sa.BigInteger(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_poi')),
    schema='basemap'
    )
    op.create_index(op.f('ix_poi_name_zh'), 'poi', ['name_zh'], unique=False, schema='basemap')
    op.create_geospatial_table('road',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('road_class', sa.String(length=16), nullable=False),
    sa.Column('lanes', sa.Integer(), nullable=False),
    sa.Column('speed_kmh', sa.Integer(), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=True),
    sa.Column('geom', Geometry(geometry_type='LINESTRING', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_road')),
    schema='basemap'
    )
    op.create_index(op.f('ix_road_name_zh'), 'road', ['name_zh'], unique=False, schema='basemap')
    op.create_table('department',
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_department')),
    schema='catalog'
    )
    op.create_table('grid_version',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_layer', sa.Text(), nullable=False),
    sa.Column('cell_size_m', sa.Float(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('cell_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grid_version')),
    schema='grid'
    )
    op.create_geospatial_table('aq_station',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aq_station')),
    sa.UniqueConstraint('code', name=op.f('uq_aq_station_code')),
    schema='thematic'
    )
    op.create_geospatial_table('city_component',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('category_code', sa.String(length=4), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_city_component')),
    schema='thematic'
    )
    op.create_geospatial_table('emergency_facility',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('beds', sa.Integer(), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('address_zh', sa.Text(), nullable=True),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("kind IN ('hospital', 'fire_station', 'shelter')", name=op.f('ck_emergency_facility_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emergency_facility')),
    schema='thematic'
    )
    op.create_index(op.f('ix_emergency_facility_kind'), 'emergency_facility', ['kind'], unique=False, schema='thematic')
    op.create_geospatial_table('layer',
    sa.Column('id', sa.String(length=63), nullable=False),
    sa.Column('title_zh', sa.Text(), nullable=False),
    sa.Column('title_en', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('department_code', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('storage_schema', sa.String(length=63), nullable=True),
    sa.Column('storage_table', sa.String(length=63), nullable=True),
    sa.Column('storage_path', sa.Text(), nullable=True),
    sa.Column('id_field', sa.String(length=63), nullable=False),
    sa.Column('geom_field', sa.String(length=63), nullable=False),
    sa.Column('time_field', sa.String(length=63), nullable=True),
    sa.Column('geometry_type', sa.String(length=32), nullable=True),
    sa.Column('extent', Geometry(geometry_type='GEOMETRY', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('time_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('time_end', sa.DateTime(timezone=True), nullable=True),
    sa.Column('keywords', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('licence', sa.Text(), nullable=False),
    sa.Column('style', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('feature_count', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("id ~ '^[a-z][a-z0-9_]{0,62}$'", name=op.f('ck_layer_id_slug')),
    sa.CheckConstraint("kind IN ('vector', 'imagery', 'address', 'grid', 'incidents')", name=op.f('ck_layer_kind')),
    sa.CheckConstraint("visibility IN ('public', 'internal', 'department')", name=op.f('ck_layer_visibility')),
    sa.ForeignKeyConstraint(['department_code'], ['catalog.department.code'], name=op.f('fk_layer_department_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_layer')),
    schema='catalog'
    )
    op.create_geospatial_table('unit_cell',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=15), nullable=False),
    sa.Column('district_code', sa.String(length=6), nullable=False),
    sa.Column('street_code', sa.String(length=9), nullable=False),
    sa.Column('community_code', sa.String(length=12), nullable=False),
    sa.Column('area_m2', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{15}$'", name=op.f('ck_unit_cell_code_digits')),
    sa.ForeignKeyConstraint(['version_id'], ['grid.grid_version.id'], name=op.f('fk_unit_cell_version_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unit_cell')),
    schema='grid'
    )
    op.create_index(op.f('ix_unit_cell_community_code'), 'unit_cell', ['community_code'], unique=False, schema='grid')
    op.create_index(op.f('ix_unit_cell_version_id'), 'unit_cell', ['version_id'], unique=False, schema='grid')
    op.create_geospatial_table('aq_reading',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('station_code', sa.String(length=16), nullable=False),
    sa.Column('observed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('aqi', sa.Integer(), nullable=False),
    sa.Column('pm2_5', sa.Float(), nullable=False),
    sa.Column('pm10', sa.Float(), nullable=False),
    sa.Column('no2', sa.Float(), nullable=False),
    sa.Column('o3', sa.Float(), nullable=False),
    sa.Column('geom', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['station_code'], ['thematic.aq_station.code'], name=op.f('fk_aq_reading_station_code')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aq_reading')),
    schema='thematic'
    )
    op.create_index(op.f('ix_aq_reading_observed_at'), 'aq_reading', ['observed_at'], unique=False, schema='thematic')
    op.create_index(op.f('ix_aq_reading_station_code'), 'aq_reading', ['station_code'], unique=False, schema='thematic')
    op.create_unique_constraint('uq_unit_cell_version_code', 'unit_cell', ['version_id', 'code'], schema='grid')
    op.create_index('ix_audit_event_at', 'event', ['at'], schema='audit')
    field = {("catalog", "layer"): "extent"}
    for schema, table in GEOMETRY_COLUMNS:
        column = field.get((schema, table), "geom")
        op.execute(f"CREATE INDEX ix_{table}_{column}_gist ON {schema}.{table} USING gist ({column})")


def downgrade() -> None:
    op.drop_index(op.f('ix_aq_reading_station_code'), table_name='aq_reading', schema='thematic')
    op.drop_index(op.f('ix_aq_reading_observed_at'), table_name='aq_reading', schema='thematic')
    op.drop_geospatial_table('aq_reading', schema='thematic')
    op.drop_index(op.f('ix_unit_cell_version_id'), table_name='unit_cell', schema='grid')
    op.drop_index(op.f('ix_unit_cell_community_code'), table_name='unit_cell', schema='grid')
    op.drop_geospatial_table('unit_cell', schema='grid')
    op.drop_geospatial_table('layer', schema='catalog')
    op.drop_index(op.f('ix_emergency_facility_kind'), table_name='emergency_facility', schema='thematic')
    op.drop_geospatial_table('emergency_facility', schema='thematic')
    op.drop_geospatial_table('city_component', schema='thematic')
    op.drop_geospatial_table('aq_station', schema='thematic')
    op.drop_table('grid_version', schema='grid')
    op.drop_table('department', schema='catalog')
    op.drop_index(op.f('ix_road_name_zh'), table_name='road', schema='basemap')
    op.drop_geospatial_table('road', schema='basemap')
    op.drop_index(op.f('ix_poi_name_zh'), table_name='poi', schema='basemap')
    op.drop_geospatial_table('poi', schema='basemap')
    op.drop_index(op.f('ix_building_community_code'), table_name='building', schema='basemap')
    op.drop_geospatial_table('building', schema='basemap')
    op.drop_index(op.f('ix_admin_division_parent_code'), table_name='admin_division', schema='basemap')
    op.drop_index(op.f('ix_admin_division_level'), table_name='admin_division', schema='basemap')
    op.drop_geospatial_table('admin_division', schema='basemap')
    op.drop_index(op.f('ix_address_district_code'), table_name='address', schema='basemap')
    op.drop_geospatial_table('address', schema='basemap')
    op.drop_table('event', schema='audit')
    # layers loaded later live in these schemas too: base removes them with everything else
    for schema in reversed(SCHEMAS):
        op.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
