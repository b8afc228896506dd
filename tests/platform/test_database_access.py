"""Nobody logs in to the embedded databases without the stack's password (real PostgreSQL and MariaDB)."""

from __future__ import annotations

import os
import subprocess

import psycopg
import pymysql
import pytest

from transit_status.config import Settings
from transit_status.platform.services import mariadb, postgres
from transit_status.platform.services.postgres import PostgresBinaries

pytestmark = pytest.mark.platform

# The passwords earlier versions wrote into the code: the same on every machine.
OLD_DEFAULTS = {"postgres": "chicago", "mariadb": "london", "debezium": "dbz-london"}


@pytest.mark.parametrize("password", [None, "", OLD_DEFAULTS["postgres"]])
def test_postgres_over_tcp_needs_the_password(platform: Settings, password: str | None) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"password authentication failed|no password supplied"):
        psycopg.connect(
            host=platform.host,
            port=platform.postgres_port,
            user=platform.postgres_user,
            dbname=platform.postgres_db,
            connect_timeout=5,
            **({"password": password} if password is not None else {}),
        )
    with postgres.connect(platform) as conn:  # what every client uses: the settings' password
        assert conn.execute("SELECT current_user").fetchone() == (platform.postgres_user,)


@pytest.mark.skipif(os.geteuid() != 0, reason="acting as another local user needs root")
def test_postgres_socket_admits_no_other_local_user(platform: Settings) -> None:
    # Earlier versions trusted every local socket login: any user who could reach it was superuser.
    # psql from the server's own package: nobody may run it (unlike a virtualenv under /root).
    psql = PostgresBinaries.find().postgres.with_name("psql")
    where = ["-h", str(postgres.socket_dir(platform)), "-p", str(platform.postgres_port)]
    result = subprocess.run(
        [str(psql), *where, "-U", platform.postgres_user, "-d", platform.postgres_db, "-w", "-c", "SELECT 1"],
        user="nobody",
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        cwd="/",
        check=False,
    )
    assert result.returncode != 0
    assert "Peer authentication failed" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("root", ""),  # MariaDB's administrators log in over the socket as their OS user only
        ("", ""),  # no anonymous account
        ("tfl_admin", ""),
        ("tfl_admin", OLD_DEFAULTS["mariadb"]),
        ("debezium", OLD_DEFAULTS["debezium"]),
    ],
)
def test_mariadb_over_tcp_needs_the_password(platform: Settings, user: str, password: str) -> None:
    assert (platform.mariadb_user, platform.mariadb_connector_user) == ("tfl_admin", "debezium")
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host=platform.host, port=platform.mariadb_port, user=user, password=password, connect_timeout=5)
    assert refused.value.args[0] == 1045  # access denied
    with mariadb.connect(platform) as conn:  # what every client uses: the settings' password
        assert conn.open
