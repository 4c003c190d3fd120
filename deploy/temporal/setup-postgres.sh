#!/bin/sh
# One-shot job (temporalio/admin-tools): create Temporal's two PostgreSQL databases and bring
# their schemas to the version this admin-tools release ships. Safe to re-run on every
# `docker compose up`: `create` ignores an existing database, `setup-schema -v 0.0` leaves a
# newer version alone and `update-schema` applies only the missing steps. Keep the
# admin-tools tag equal to the server tag so schema and server agree.
#
# temporal-sql-tool reads its connection from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER and
# SQL_PASSWORD (set by docker-compose.yml), so the password never appears on a command line.
set -eu

schema_root=/etc/temporal/schema/postgresql/v12

for db in "${SQL_DATABASE:-temporal}:temporal" "${SQL_VISIBILITY_DATABASE:-temporal_visibility}:visibility"; do
    name=${db%%:*}
    kind=${db##*:}
    echo "temporal schema: database ${name} (${kind})"
    temporal-sql-tool --db "${name}" create
    temporal-sql-tool --db "${name}" setup-schema -v 0.0
    temporal-sql-tool --db "${name}" update-schema -d "${schema_root}/${kind}/versioned"
done
echo "temporal schema: up to date"
# The chat store's database; its schema is agentchat's (every worker and gateway migrates it).
temporal-sql-tool --db "${AGENTCHAT_DATABASE:-agentchat}" create
echo "chat store: database ${AGENTCHAT_DATABASE:-agentchat} ready"
