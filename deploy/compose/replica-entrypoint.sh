#!/bin/bash
# A hot standby of the primary: copied once with pg_basebackup (-R writes standby.signal and
# primary_conninfo, -C -S a replication slot so the primary keeps the WAL it still needs), then
# started as a normal server that accepts read-only connections.
set -euo pipefail
export PGPASSWORD="$REPLICATION_PASSWORD"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h "$PRIMARY_HOST" -U replicator; do sleep 1; done
  mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  gosu postgres pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream -R -C -S replica1 -P
fi
exec gosu postgres postgres -c hot_standby=on -c hot_standby_feedback=on
