"""layer versions for the tile caches: ``catalog.layer_version``, bumped by triggers, announced by NOTIFY

One row per layer name with a counter that moves whenever what a tile of the layer shows may
have changed: a feature history row (``audit.feature_change``: edits, uploads, rollbacks, one
bump per statement and layer), a catalog row (publish, replace, re-style, visibility, removal)
or an imagery scene (added, changed, removed). Each bump sends ``NOTIFY onemap_layer_version``
with ``<layer id> <version>`` when its transaction commits. Bumps of one layer queue on its row,
so versions commit in their order and a tile cache keyed by the version never serves a tile
drawn before a change under the version after it (``layers.tile_cache``).

Revision ID: 0012_layer_version
Revises: 0011_plates, 0006_layer_identity, 0005_imagery
Create Date: 2026-12-05 16:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0012_layer_version"
down_revision = ("0011_plates", "0006_layer_identity", "0005_imagery")  # needs the history and scene tables
branch_labels = None
depends_on = None

UP = """
CREATE TABLE catalog.layer_version (
    layer_id text NOT NULL,
    version bigint NOT NULL DEFAULT 1,
    changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pk_layer_version PRIMARY KEY (layer_id)
);
INSERT INTO catalog.layer_version (layer_id) SELECT id FROM catalog.layer;

CREATE FUNCTION catalog.bump_layer_versions(layer_ids text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    bumped record;
BEGIN
    FOR bumped IN
        INSERT INTO catalog.layer_version AS v (layer_id)
        SELECT DISTINCT id FROM unnest(layer_ids) AS id WHERE id IS NOT NULL ORDER BY id
        ON CONFLICT (layer_id) DO UPDATE SET version = v.version + 1, changed_at = now()
        RETURNING v.layer_id, v.version
    LOOP
        PERFORM pg_notify('onemap_layer_version', bumped.layer_id || ' ' || bumped.version);
    END LOOP;
END $$;

CREATE FUNCTION catalog.bump_on_feature_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM catalog.bump_layer_versions(ARRAY(SELECT layer_id FROM added));
    RETURN NULL;
END $$;
CREATE TRIGGER feature_change_layer_version AFTER INSERT ON audit.feature_change
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION catalog.bump_on_feature_change();

"""

ROW_FUNCTION = """
CREATE FUNCTION catalog.bump_on_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM catalog.bump_layer_versions(ARRAY[NEW.{column}]);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM catalog.bump_layer_versions(ARRAY[OLD.{column}]);
    ELSE
        PERFORM catalog.bump_layer_versions(ARRAY[OLD.{column}, NEW.{column}]);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_layer_version AFTER INSERT OR UPDATE OR DELETE ON {schema}.{table}
    FOR EACH ROW EXECUTE FUNCTION catalog.bump_on_{table}();
"""
ROW_TRIGGERS = (("catalog", "layer", "id"), ("imagery", "scene", "layer_id"))


def upgrade() -> None:
    op.execute(UP)
    for schema, table, column in ROW_TRIGGERS:
        op.execute(ROW_FUNCTION.replace("{schema}", schema).replace("{table}", table).replace("{column}", column))


def downgrade() -> None:
    for schema, table, _ in ROW_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_layer_version ON {schema}.{table}")
        op.execute(f"DROP FUNCTION IF EXISTS catalog.bump_on_{table}()")
    op.execute("DROP TRIGGER IF EXISTS feature_change_layer_version ON audit.feature_change")
    op.execute("DROP FUNCTION IF EXISTS catalog.bump_on_feature_change()")
    op.execute("DROP FUNCTION IF EXISTS catalog.bump_layer_versions(text[])")
    op.execute("DROP TABLE IF EXISTS catalog.layer_version")
