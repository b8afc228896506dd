"""PostgreSQL from Debian's packages: one cluster in the state directory, with the stations table.

The cluster is created with ``initdb`` on first start; ``cta_admin`` is its bootstrap superuser (it
needs the REPLICATION privilege anyway for Debezium's logical decoding). PostgreSQL refuses to run
as root, so when we are root the server runs as the ``postgres`` system user (``system_user.py``
says where its files go then).

Who may log in (``pg_hba.conf``, rewritten at every start, so an older cluster gets the same rules):
over TCP every role needs its password (scram-sha-256; ``settings.postgres_password``, generated per
state directory); over the Unix socket only the OS user running the stack, as ``cta_admin`` (peer
authentication through an ident map). That socket login sets the role's password to the settings'
at every start, so a changed setting, or a cluster made with an older default, follows the settings.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from transit_status.config import Settings
from transit_status.networks import Network, load_data_network
from transit_status.platform.errors import MissingDependencyError, PlatformError
from transit_status.platform.service import Launch, ServiceSpec
from transit_status.platform.system_user import RunAs

INSTALL_HINT = "install PostgreSQL's server with `sudo apt-get install postgresql` (or run `make setup`)"
SYSTEM_USER = "postgres"
DEBIAN_ROOT = Path("/usr/lib/postgresql")

# The seed's columns first (same names and meaning), then what the full 8-line network needs.
STATIONS_DDL = """
CREATE TABLE IF NOT EXISTS stations (
    stop_id                  INTEGER PRIMARY KEY,
    direction_id             CHAR(1) NOT NULL,
    stop_name                VARCHAR(100) NOT NULL,
    station_name             VARCHAR(100) NOT NULL,
    station_descriptive_name VARCHAR(200) NOT NULL,
    station_id               INTEGER NOT NULL,
    "order"                  INTEGER,
    red                      BOOLEAN NOT NULL,
    blue                     BOOLEAN NOT NULL,
    green                    BOOLEAN NOT NULL,
    brown                    BOOLEAN NOT NULL,
    purple                   BOOLEAN NOT NULL,
    purple_express           BOOLEAN NOT NULL,
    yellow                   BOOLEAN NOT NULL,
    pink                     BOOLEAN NOT NULL,
    orange                   BOOLEAN NOT NULL,
    ada                      BOOLEAN NOT NULL,
    latitude                 DOUBLE PRECISION NOT NULL,
    longitude                DOUBLE PRECISION NOT NULL
)
"""
STATION_COLUMNS = (
    "stop_id",
    "direction_id",
    "stop_name",
    "station_name",
    "station_descriptive_name",
    "station_id",
    "order",
    "red",
    "blue",
    "green",
    "brown",
    "purple",
    "purple_express",
    "yellow",
    "pink",
    "orange",
    "ada",
    "latitude",
    "longitude",
)
# The line columns of the table, in its column order: each is a service of the network's stops.
LINE_FLAG_COLUMNS = ("red", "blue", "green", "brown", "purple", "purple_express", "yellow", "pink", "orange")
# Which route's position gives a stop its seed-style `order`: the seed used Red, Blue and the Green
# Ashland branch; the other routes follow, so every stop of the full network gets one.
ORDER_PRECEDENCE = (
    "red",
    "blue",
    "green-ashland-63rd",
    "green-cottage-grove",
    "brown",
    "orange",
    "pink",
    "purple-express",
    "purple-local",
    "yellow",
)


@dataclass(frozen=True)
class PostgresBinaries:
    initdb: Path
    postgres: Path

    @classmethod
    def find(cls, search_root: Path = DEBIAN_ROOT, path: str | None = None) -> PostgresBinaries:
        """The newest Debian-packaged server (``/usr/lib/postgresql/<major>/bin``), else from PATH."""
        candidates = sorted(
            search_root.glob("*/bin/postgres"),
            key=lambda found: int(found.parent.parent.name) if found.parent.parent.name.isdigit() else 0,
        )
        if candidates:
            bindir = candidates[-1].parent
            return cls(initdb=bindir / "initdb", postgres=bindir / "postgres")
        server, initdb = shutil.which("postgres", path=path), shutil.which("initdb", path=path)
        if server and initdb:
            return cls(postgres=Path(server), initdb=Path(initdb))
        raise MissingDependencyError(f"PostgreSQL server binaries (postgres, initdb) not found: {INSTALL_HINT}")


def postgres_dir(settings: Settings) -> Path:
    """The server's own directory: ``<state>/postgres``, or where that link points (``system_user.py``)."""
    return (settings.state_dir / "postgres").resolve()


def data_dir(settings: Settings) -> Path:
    return postgres_dir(settings) / "data"


def socket_dir(settings: Settings) -> Path:
    return postgres_dir(settings) / "run"


IDENT_MAP = "stack"


def access_rules(settings: Settings, os_user: str) -> tuple[str, str]:
    """``pg_hba.conf`` and ``pg_ident.conf``: passwords over TCP; the socket for ``os_user`` as the admin only."""
    header = "# Written by transit-status at every start (platform/services/postgres.py); edits here are replaced.\n"
    hba = header + "\n".join(
        [
            # TYPE  DATABASE  USER  ADDRESS     METHOD
            f"local  all  all  peer map={IDENT_MAP}",
            "host   all  all  0.0.0.0/0  scram-sha-256",
            "host   all  all  ::/0       scram-sha-256",
            "",
        ]
    )
    ident = header + f"{IDENT_MAP}  {os_user}  {settings.postgres_user}\n"
    return hba, ident


def write_access_rules(settings: Settings, run_as: RunAs) -> None:
    hba, ident = access_rules(settings, pwd.getpwuid(os.geteuid()).pw_name)
    for name, text in (("pg_hba.conf", hba), ("pg_ident.conf", ident)):
        path = data_dir(settings) / name
        scratch = path.with_name(name + ".new")
        scratch.write_text(text)
        scratch.chmod(0o600)
        run_as.give(scratch)
        scratch.replace(path)


def initialise_cluster(settings: Settings, binaries: PostgresBinaries, run_as: RunAs) -> bool:
    """``initdb`` the cluster once. Returns True when it was created now."""
    pgdata = data_dir(settings)
    if (pgdata / "PG_VERSION").exists():
        return False
    # initdb works in a scratch directory renamed at the end: an interrupted initdb leaves no
    # half-made cluster that a later start would take for a finished one.
    scratch = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    socket_dir(settings).mkdir(parents=True, exist_ok=True)
    run_as.give(postgres_dir(settings))
    with tempfile.NamedTemporaryFile("w", dir=pgdata.parent, delete=False, suffix=".pw") as password_file:
        password_file.write(settings.postgres_password.get_secret_value() + "\n")
    run_as.give(Path(password_file.name))
    try:
        result = subprocess.run(
            [
                str(binaries.initdb),
                "-D",
                str(scratch),
                "-U",
                settings.postgres_user,
                f"--pwfile={password_file.name}",
                "--auth-local=peer",  # replaced by write_access_rules before the first start
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=pgdata.parent,
            **run_as.popen_kwargs(),  # type: ignore[arg-type]
        )
    finally:
        os.unlink(password_file.name)
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise PlatformError(f"initdb failed for PostgreSQL:\n{result.stderr.strip() or result.stdout.strip()}")
    shutil.rmtree(pgdata, ignore_errors=True)  # an empty or half-made directory from an older version
    scratch.rename(pgdata)
    return True


def server_command(settings: Settings, binaries: PostgresBinaries) -> list[str]:
    """Flags on the command line so a changed port or directory applies at the next start."""
    return [
        str(binaries.postgres),
        "-D",
        str(data_dir(settings)),
        "-c",
        f"port={settings.postgres_port}",
        "-c",
        f"listen_addresses={settings.host}",
        "-c",
        f"unix_socket_directories={socket_dir(settings)}",
        # Debezium reads changes through logical decoding (pgoutput).
        "-c",
        "wal_level=logical",
        "-c",
        "max_wal_senders=8",
        "-c",
        "max_replication_slots=8",
        "-c",
        "shared_buffers=64MB",
        "-c",
        "logging_collector=off",
    ]


def connect(settings: Settings, dbname: str | None = None) -> psycopg.Connection:
    """PostgreSQL as the pipeline reaches it (``settings.postgres``: the embedded one, or ``postgres_dsn``)."""
    database = settings.postgres
    return psycopg.connect(
        host=database.host,
        port=database.port,
        dbname=dbname or database.name,
        user=database.user,
        password=database.password.get_secret_value(),
        connect_timeout=2,
        autocommit=True,
        **database.options,  # e.g. sslmode from the DSN
    )


def admin_connect(settings: Settings, dbname: str = "postgres") -> psycopg.Connection:
    """The Unix socket, as the admin role, without a password: only the OS user running the stack may."""
    return psycopg.connect(
        host=str(socket_dir(settings)),
        port=settings.postgres_port,
        dbname=dbname,
        user=settings.postgres_user,
        connect_timeout=2,
        autocommit=True,
    )


def set_password(settings: Settings) -> None:
    """Give the admin role the settings' password (the server hashes it with scram-sha-256)."""
    with admin_connect(settings) as conn:
        statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
            sql.Identifier(settings.postgres_user), sql.Literal(settings.postgres_password.get_secret_value())
        )
        conn.execute(statement)


def ensure_database(settings: Settings) -> None:
    name = settings.postgres.name
    try:
        with connect(settings):
            return  # there already (an existing server's user may not reach the "postgres" database)
    except psycopg.OperationalError:
        pass
    with connect(settings, dbname="postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def station_rows(network: Network) -> Iterator[tuple[object, ...]]:
    """Rows of the stations table (in STATION_COLUMNS order), one per stop of the network."""
    order_of: dict[int, int] = {}
    for route_id in reversed(ORDER_PRECEDENCE):  # earlier routes overwrite later ones
        for position, station_id in enumerate(network.route(route_id).station_ids):
            order_of[station_id] = position
    for stop in network.stops.values():
        yield (
            stop.stop_id,
            stop.direction_id,
            stop.name,
            stop.station_name,
            stop.station_descriptive_name,
            stop.station_id,
            order_of.get(stop.station_id),
            *(column in stop.services for column in LINE_FLAG_COLUMNS),
            stop.accessible,
            stop.latitude,
            stop.longitude,
        )


def load_stations(settings: Settings) -> int:
    """Create and fill the stations table; idempotent. Returns the table's row count."""
    ensure_database(settings)
    columns = sql.SQL(", ").join(sql.Identifier(name) for name in STATION_COLUMNS)
    insert = sql.SQL("INSERT INTO stations ({}) VALUES ({}) ON CONFLICT (stop_id) DO NOTHING").format(
        columns, sql.SQL(", ").join([sql.Placeholder()] * len(STATION_COLUMNS))
    )
    # Chicago's rows whatever the source: the columns are the 'L' lines. Another agency's stations come
    # from its static GTFS through the stations transform (streams/stations.py), not from this table.
    with connect(settings) as conn:
        conn.execute(STATIONS_DDL)
        with conn.cursor() as cursor:
            cursor.executemany(insert, list(station_rows(load_data_network(settings))))
        (count,) = conn.execute("SELECT count(*) FROM stations").fetchone()  # type: ignore[misc]
    return int(count)


# ---- the service ------------------------------------------------------------------------------------


def is_ready(settings: Settings) -> bool:
    # Over the socket: the TCP password is only set once the server is up (on_ready).
    try:
        with admin_connect(settings) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def stations_loaded(settings: Settings) -> bool:
    try:
        with connect(settings) as conn:
            (count,) = conn.execute("SELECT count(*) FROM stations").fetchone()  # type: ignore[misc]
        return count > 0
    except Exception:
        return False


def specs(settings: Settings) -> list[ServiceSpec]:
    def prepare() -> Launch:
        binaries = PostgresBinaries.find()
        run_as = RunAs.for_current_process(SYSTEM_USER, INSTALL_HINT)
        run_as.server_dir(settings.state_dir, "postgres", settings.system_data_dir)
        initialise_cluster(settings, binaries, run_as)
        write_access_rules(settings, run_as)
        return Launch(command=server_command(settings, binaries), popen_kwargs=run_as.popen_kwargs())

    def load() -> str:
        try:
            set_password(settings)
            return f"{load_stations(settings)} stops in table stations"
        except psycopg.Error as error:
            raise PlatformError(f"setting up PostgreSQL (password, stations table) failed: {error}") from error

    # A declaration, like every service module's specs(): the keywords repeat, each value is this service's own.
    return [
        ServiceSpec(
            name="postgres",
            port=settings.postgres_port,
            after=(),
            prepare=prepare,
            is_ready=lambda: is_ready(settings),
            on_ready=load,
            is_healthy=lambda: stations_loaded(settings),
            # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for every client to leave.
            stop_signal=signal.SIGINT,
        )
    ]
