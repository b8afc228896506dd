"""MariaDB holds London's operational data: every TfL station, the card holders, a binlog Debezium can read."""

from __future__ import annotations

import csv

import psutil
import pymysql
import pytest

from transit_status.config import Settings
from transit_status.platform.services import mariadb
from transit_status.platform.supervisor import Platform

pytestmark = pytest.mark.platform

STATIONS_IN_DATA = 270


def test_stations_table_holds_every_london_station(platform: Settings) -> None:
    with (platform.data_dir / mariadb.LONDON_DATA / "tfl_stations.csv").open(newline="") as source:
        stations = {int(row["nlc"]): row for row in csv.DictReader(source)}
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT nlc, name, location, zone, `lines`, latitude, longitude, modified_date FROM stations")
        rows = {row[0]: row for row in cursor.fetchall()}
    assert len(stations) == STATIONS_IN_DATA
    assert set(stations) <= set(rows)  # other tests may add their own stations
    for nlc, station in stations.items():
        _, name, location, zone, lines, latitude, longitude, modified = rows[nlc]
        assert (name, zone, lines) == (station["name"], station["zone"], station["underground_lines"])
        assert (latitude, longitude) == (float(station["latitude"]), float(station["longitude"]))
        assert location == f"{latitude},{longitude}"
        assert modified is not None
    assert rows[513][1] == "Bank and Monument"  # one station and one count in TfL's data


def test_card_holders_are_the_same_on_every_machine(platform: Settings) -> None:
    with mariadb.connect(platform) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, card_number, name, home_station FROM users ORDER BY id")
        users = cursor.fetchall()
        cursor.execute("SELECT name FROM stations")
        station_names = {name for (name,) in cursor.fetchall()}
    stations = mariadb.read_london_stations(platform.data_dir / mariadb.LONDON_DATA)
    assert users == tuple(mariadb.card_holder_rows(stations))
    assert len(users) == mariadb.CARD_HOLDERS
    assert len({card for _, card, _, _ in users}) == len(users)
    assert {home for _, _, _, home in users} <= station_names


def test_binlog_is_what_debezium_reads(platform: Settings) -> None:
    connector = pymysql.connect(
        host=platform.host,
        port=platform.mariadb_port,
        user=platform.mariadb_connector_user,
        password=platform.mariadb_connector_password.get_secret_value(),
    )
    with connector, connector.cursor() as cursor:
        cursor.execute("SHOW VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image')")
        assert dict(cursor.fetchall()) == {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL"}
        cursor.execute("SELECT @@server_id")
        assert cursor.fetchone() == (mariadb.SERVER_ID,)
        cursor.execute("SHOW GRANTS")
        (grants,) = cursor.fetchone()
    for privilege in ("SELECT", "RELOAD", "SHOW DATABASES", "LOCK TABLES", "REPLICATION SLAVE", "BINLOG MONITOR"):
        assert privilege in grants


def test_server_runs_as_mysql_when_started_by_root(platform_supervisor: Platform) -> None:
    record = platform_supervisor.running()["mariadb"]
    process = psutil.Process(record.pid)
    expected = "mysql" if psutil.Process().uids().effective == 0 else psutil.Process().username()
    assert process.username() == expected
