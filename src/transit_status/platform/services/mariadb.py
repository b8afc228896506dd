"""MariaDB from Debian's packages: London's operational data (db ``tfl``), the source of the stations topic.

The data directory is created with ``mariadb-install-db`` on first start, together with the
database, its owner and the user Debezium reads the binlog as. The server writes a row-based binlog
with full row images, which is what Debezium's MariaDB connector streams. MariaDB refuses to run as
root, so when we are root the server runs as the ``mysql`` system user (``system_user.py`` says where
its files go then).

Who may log in: the project's users (``tfl_admin``, ``debezium``) with their passwords (settings,
generated per state directory); MariaDB's own administrators (``root``, and the OS user running the
stack) only over the Unix socket as that OS user (unix_socket authentication), never over TCP. That
socket login sets the project users' passwords to the settings' at every start, so a changed setting,
or a data directory made with an older default, follows the settings.
"""

from __future__ import annotations

import csv
import os
import pwd
import random
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymysql
from pydantic import SecretStr
from pymysql.converters import escape_string

from transit_status.config import Settings
from transit_status.platform.errors import MissingDependencyError, PlatformError
from transit_status.platform.service import Launch, ServiceSpec
from transit_status.platform.system_user import RunAs

INSTALL_HINT = "install MariaDB's server with `sudo apt-get install mariadb-server` (or run `make setup`)"
SYSTEM_USER = "mysql"
LONDON_DATA = "tfl"
# The binlog's server id; Debezium joins as a replica with its own, different id (connectors.py).
SERVER_ID = 1
BINLOG_RETENTION_S = 7 * 24 * 3600

# The original design's columns (name, location, modified_date), plus what the data carries.
# `location` is "lat,lon", the string form of a geo_point that OpenSearch and Elasticsearch read.
# `lines` is a reserved word in MariaDB, hence the backquotes. modified_date has whole seconds, as
# `now()` gives: an `UPDATE ... SET modified_date = now()` never moves it back below the default.
STATIONS_DDL = """
CREATE TABLE IF NOT EXISTS stations (
    nlc           INT PRIMARY KEY,
    name          VARCHAR(100) NOT NULL UNIQUE,
    location      VARCHAR(40) NOT NULL,
    zone          VARCHAR(10) NOT NULL,
    `lines`       VARCHAR(200) NOT NULL,
    latitude      DOUBLE NOT NULL,
    longitude     DOUBLE NOT NULL,
    modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) CHARACTER SET utf8mb4
"""
# A second table, not a second copy: CREATE TABLE reads alike for any two tables.
USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
    id            INT PRIMARY KEY,
    card_number   CHAR(12) NOT NULL UNIQUE,
    name          VARCHAR(100) NOT NULL,
    home_station  VARCHAR(100) NOT NULL,
    modified_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) CHARACTER SET utf8mb4
"""
# A row that exists already is left alone: a rename made since the first load survives restarts.
INSERT_STATION = (
    "INSERT INTO stations (nlc, name, location, zone, `lines`, latitude, longitude)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON DUPLICATE KEY UPDATE nlc = nlc"
)
INSERT_USER = (
    "INSERT INTO users (id, card_number, name, home_station) VALUES (%s, %s, %s, %s) ON DUPLICATE KEY UPDATE id = id"
)

CARD_HOLDERS = 5000
CARD_HOLDERS_SEED = 20230221  # fixed: the same card holders on every machine and every first start
FIRST_NAMES = (
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Grace", "Leo", "Freya", "Muhammad",
    "Lily", "Harry", "Sophia", "Oscar", "Priya", "Jack", "Aisha", "Charlie", "Zara", "Thomas", "Chloe", "Kwame",
)  # fmt: skip
SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Khan", "Robinson",
    "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Ahmed", "Okafor", "Clarke",
)  # fmt: skip


def mariadb_dir(settings: Settings) -> Path:
    """The server's own directory: ``<state>/mariadb``, or where that link points (``system_user.py``)."""
    return (settings.state_dir / "mariadb").resolve()


def data_dir(settings: Settings) -> Path:
    return mariadb_dir(settings) / "data"


def socket_path(settings: Settings) -> Path:
    return mariadb_dir(settings) / "run" / "mariadb.sock"


def find_binary(name: str, path: str | None = None) -> str:
    for directory in ("/usr/sbin", "/usr/bin"):
        if Path(directory, name).exists():
            return str(Path(directory, name))
    found = shutil.which(name, path=path)
    if not found:
        raise MissingDependencyError(f"MariaDB's {name} not found: {INSTALL_HINT}")
    return found


def quoted(value: str | SecretStr) -> str:
    return "'" + escape_string(value.get_secret_value() if isinstance(value, SecretStr) else value) + "'"


def admin_user() -> str:
    """The administrator this process logs in as over the socket: root, or the OS user it runs as."""
    return "root" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name


def bootstrap_sql(settings: Settings) -> str:
    """Database and users, run by ``mariadb-install-db`` in the same step that creates the data directory."""
    owner, connector = quoted(settings.mariadb_user), quoted(settings.mariadb_connector_user)
    return "\n".join(
        [
            # Bootstrap mode starts without grant tables; account statements need them loaded.
            "FLUSH PRIVILEGES;",
            f"CREATE DATABASE IF NOT EXISTS `{settings.mariadb_db}` CHARACTER SET utf8mb4;",
            f"CREATE USER {owner}@'%' IDENTIFIED BY {quoted(settings.mariadb_password)};",
            f"GRANT ALL PRIVILEGES ON `{settings.mariadb_db}`.* TO {owner}@'%';",
            f"CREATE USER {connector}@'%' IDENTIFIED BY {quoted(settings.mariadb_connector_password)};",
            # What Debezium's MariaDB connector documents: snapshot reads, and the binlog.
            "GRANT SELECT, RELOAD, SHOW DATABASES, LOCK TABLES, REPLICATION SLAVE, BINLOG MONITOR"
            f" ON *.* TO {connector}@'%';",
            "",
        ]
    )


def initialise_data_dir(settings: Settings, run_as: RunAs) -> bool:
    """``mariadb-install-db`` once. Returns True when the data directory was created now."""
    target = data_dir(settings)
    if (target / "mysql").is_dir():
        return False
    # Installed into a scratch directory renamed at the end: an interrupted install leaves no
    # half-made data directory that a later start would take for a finished one.
    scratch = target.with_name(target.name + ".install")
    shutil.rmtree(scratch, ignore_errors=True)
    socket_path(settings).parent.mkdir(parents=True, exist_ok=True)
    run_as.give(mariadb_dir(settings))
    # The passwords go through a private file, never a command line that `ps` shows.
    with tempfile.NamedTemporaryFile("w", dir=mariadb_dir(settings), delete=False, suffix=".sql") as extra:
        extra.write(bootstrap_sql(settings))
    try:
        result = subprocess.run(
            [
                find_binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={scratch}",
                *([f"--user={run_as.user}"] if run_as.user else []),
                # Only a local OS account can log in as root (and as the second administrator, the
                # OS user running the stack, who sets the passwords); the project uses its own users.
                "--auth-root-authentication-method=socket",
                f"--auth-root-socket-user={admin_user()}",
                "--skip-test-db",
                f"--extra-file={extra.name}",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=mariadb_dir(settings),
        )
    finally:
        Path(extra.name).unlink(missing_ok=True)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise PlatformError(f"mariadb-install-db failed:\n{(result.stdout + result.stderr).strip()[-3000:]}")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    run_as.give(target)
    return True


def server_command(settings: Settings) -> list[str]:
    """Every option on the command line (``--no-defaults``: no /etc/mysql file changes our server)."""
    return [
        find_binary("mariadbd"),
        "--no-defaults",
        f"--datadir={data_dir(settings)}",
        f"--socket={socket_path(settings)}",
        f"--pid-file={mariadb_dir(settings) / 'run' / 'mariadb.pid'}",
        f"--port={settings.mariadb_port}",
        f"--bind-address={settings.host}",
        "--skip-name-resolve",
        # UTC, so modified_date means the same instant to every reader of the binlog.
        "--default-time-zone=+00:00",
        # What Debezium needs: a row-based binlog with whole rows, and a server id.
        "--log-bin=binlog",
        "--binlog-format=ROW",
        "--binlog-row-image=FULL",
        f"--server-id={SERVER_ID}",
        f"--binlog-expire-logs-seconds={BINLOG_RETENTION_S}",
        "--innodb-buffer-pool-size=64M",
    ]


def connect(settings: Settings) -> pymysql.Connection:
    """MariaDB as the pipeline reaches it (``settings.mariadb``: the embedded one, or ``mariadb_dsn``)."""
    database = settings.mariadb
    return pymysql.connect(
        host=database.host,
        port=database.port,
        user=database.user,
        password=database.password.get_secret_value(),
        database=database.name,
        connect_timeout=2,
        autocommit=True,
        charset="utf8mb4",
    )


def admin_connect(settings: Settings) -> pymysql.Connection:
    """The Unix socket as the administrator, without a password: only that OS user may (unix_socket)."""
    return pymysql.connect(
        unix_socket=str(socket_path(settings)), user=admin_user(), connect_timeout=2, autocommit=True
    )


def set_passwords(settings: Settings) -> None:
    """Give the project's users the settings' passwords."""
    with admin_connect(settings) as conn, conn.cursor() as cursor:
        for user, password in (
            (settings.mariadb_user, settings.mariadb_password),
            (settings.mariadb_connector_user, settings.mariadb_connector_password),
        ):
            cursor.execute(f"ALTER USER {quoted(user)}@'%' IDENTIFIED BY {quoted(password)}")


# Moves to the London network loader (networks/) once that exists.
def read_london_stations(london_dir: Path) -> list[dict[str, str]]:
    with (london_dir / "tfl_stations.csv").open(newline="") as source:
        return list(csv.DictReader(source))


def station_rows(stations: list[dict[str, str]]) -> Iterator[tuple[object, ...]]:
    for station in stations:
        latitude, longitude = float(station["latitude"]), float(station["longitude"])
        yield (
            int(station["nlc"]),
            station["name"],
            f"{latitude},{longitude}",
            station["zone"],
            station["underground_lines"],
            latitude,
            longitude,
        )


def card_holder_rows(stations: list[dict[str, str]], count: int = CARD_HOLDERS) -> Iterator[tuple[object, ...]]:
    """Card holders generated from a fixed seed: the same people on every first start."""
    chooser = random.Random(CARD_HOLDERS_SEED)
    names = sorted(station["name"] for station in stations)
    for user_id in range(1, count + 1):
        card_number = f"{chooser.randrange(10**11, 10**12):012d}"
        name = f"{chooser.choice(FIRST_NAMES)} {chooser.choice(SURNAMES)}"
        yield (user_id, card_number, name, chooser.choice(names))


def load_tables(settings: Settings) -> tuple[int, int]:
    """Create and fill ``stations`` and ``users``; idempotent. Returns both row counts."""
    stations = read_london_stations(settings.data_dir / LONDON_DATA)
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(STATIONS_DDL)
        cursor.execute(USERS_DDL)
        cursor.executemany(INSERT_STATION, list(station_rows(stations)))
        cursor.executemany(INSERT_USER, list(card_holder_rows(stations)))
        return count_rows(cursor, "stations"), count_rows(cursor, "users")


def count_rows(cursor: pymysql.cursors.Cursor, table: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {table}")  # table is one of our own names, never input
    (count,) = cursor.fetchone()  # type: ignore[misc]
    return int(count)


# ---- the service ------------------------------------------------------------------------------------


def is_up(settings: Settings) -> bool:
    # Over the socket: the project users' passwords are set once the server is up (on_ready).
    try:
        with admin_connect(settings) as conn:
            conn.ping()
        return True
    except pymysql.Error:
        return False


def stations_answer(settings: Settings) -> bool:
    try:
        with connect(settings) as conn, conn.cursor() as cursor:
            return count_rows(cursor, "stations") > 0
    except pymysql.Error:
        return False


def specs(settings: Settings) -> list[ServiceSpec]:
    def prepare() -> Launch:
        run_as = RunAs.for_current_process(SYSTEM_USER, INSTALL_HINT)
        run_as.server_dir(settings.state_dir, "mariadb", settings.system_data_dir)
        initialise_data_dir(settings, run_as)
        return Launch(command=server_command(settings), popen_kwargs=run_as.popen_kwargs())

    def load() -> str:
        try:
            set_passwords(settings)
            stations, users = load_tables(settings)
        except pymysql.Error as error:
            raise PlatformError(f"loading London's tables into MariaDB failed: {error}") from error
        return f"{stations} stations, {users} card holders in db {settings.mariadb_db}"

    return [
        ServiceSpec(
            name="mariadb",
            port=settings.mariadb_port,
            after=(),
            prepare=prepare,
            is_ready=lambda: is_up(settings),
            on_ready=load,
            is_healthy=lambda: stations_answer(settings),
            # The default stop signal, SIGTERM, is MariaDB's normal shutdown: InnoDB flushes, the binlog closes.
        )
    ]
