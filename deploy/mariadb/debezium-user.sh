# Sourced by the mariadb image's entrypoint on its first start (an empty data directory), which
# provides docker_process_sql and docker_sql_escape_string_literal. Debezium's MariaDB user, with
# what platform/services/mariadb.py grants on the embedded one: it reads the binlog as a replica.
user="$(docker_sql_escape_string_literal "${MARIADB_CONNECTOR_USER}")"
password="$(docker_sql_escape_string_literal "${MARIADB_CONNECTOR_PASSWORD}")"
docker_process_sql --database=mysql <<EOSQL
CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${password}';
GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '${user}'@'%';
EOSQL
unset user password
