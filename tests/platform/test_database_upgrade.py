"""A state directory made by an older version (built-in passwords, trusted socket) is brought to today's rules."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pymysql
import pytest

from transit_status.platform.ports import isolated_settings
from transit_status.platform.services import mariadb, postgres
from transit_status.platform.supervisor import Platform

OLD_HBA = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n"


@pytest.mark.system  # starts PostgreSQL and MariaDB
def test_old_passwords_and_trust_are_replaced_at_the_next_start() -> None:
    # Not pytest's tmp_path (0700): run as root, the servers' users must reach the state directory.
    state = Path(tempfile.mkdtemp(prefix="transit-upgrade-"))
    state.chmod(0o755)
    settings = isolated_settings(state)
    platform = Platform(settings, report=print, services=[*postgres.specs(settings), *mariadb.specs(settings)])
    try:
        platform.up()
        # What an older version left: its built-in passwords, and every local socket login trusted.
        with postgres.admin_connect(settings) as conn:
            conn.execute("ALTER ROLE cta_admin WITH PASSWORD 'chicago'")
        with mariadb.admin_connect(settings) as conn, conn.cursor() as cursor:
            cursor.execute("ALTER USER 'tfl_admin'@'%' IDENTIFIED BY 'london'")
        platform.down()
        (postgres.data_dir(settings) / "pg_hba.conf").write_text(OLD_HBA)

        platform.up()
        assert "trust" not in (postgres.data_dir(settings) / "pg_hba.conf").read_text()
        with postgres.connect(settings) as conn:  # the settings' password
            assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] > 0  # type: ignore[index]
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                host=settings.host, port=settings.postgres_port, user="cta_admin", password="chicago", dbname="cta"
            )
        assert mariadb.stations_answer(settings)
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(host=settings.host, port=settings.mariadb_port, user="tfl_admin", password="london")
    finally:
        platform.reset()
