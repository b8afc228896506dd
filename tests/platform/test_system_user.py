"""Run as root, the databases' system users get what they need without anyone's home being opened."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from transit_status.platform.errors import PlatformError
from transit_status.platform.ports import isolated_settings
from transit_status.platform.services import mariadb, postgres
from transit_status.platform.supervisor import Platform
from transit_status.platform.system_user import RunAs, can_traverse, outside_dir, remove_outside_dirs

SERVER_UID, SERVER_GID, OTHER = 105, 111, 4242


def stats(modes: dict[str, tuple[int, int, int]]):  # type: ignore[no-untyped-def]
    """A stat function over made-up directories: path -> (mode, uid, gid)."""

    def stat_of(path: Path) -> SimpleNamespace:
        mode, uid, gid = modes[str(path)]
        return SimpleNamespace(st_mode=stat.S_IFDIR | mode, st_uid=uid, st_gid=gid)

    return stat_of


def test_a_home_closed_to_others_is_not_traversable() -> None:
    tree = {"/": (0o755, 0, 0), "/root": (0o700, 0, 0), "/root/app": (0o755, 0, 0), "/root/app/.transit": (0o755, 0, 0)}
    assert not can_traverse(Path("/root/app/.transit"), SERVER_UID, {SERVER_GID}, stats(tree))
    assert can_traverse(Path("/root"), 0, {0}, stats(tree))


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "reachable"),
    [
        (0o701, OTHER, OTHER, True),  # others may search
        (0o710, OTHER, SERVER_GID, True),  # the server's group may search
        (0o710, OTHER, OTHER, False),
        (0o100, SERVER_UID, OTHER, True),  # its own directory
        (0o011, SERVER_UID, SERVER_GID, False),  # the owner's bits decide for the owner, as the kernel does
    ],
)
def test_search_permission_follows_owner_group_other(mode: int, uid: int, gid: int, reachable: bool) -> None:
    tree = {"/": (0o755, 0, 0), "/srv": (mode, uid, gid)}
    assert can_traverse(Path("/srv"), SERVER_UID, {SERVER_GID}, stats(tree)) is reachable


def test_not_root_keeps_the_servers_files_in_the_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run_as = RunAs(user=None, uid=os.geteuid(), gid=os.getegid())
    assert run_as.server_dir(state, "postgres", tmp_path / "system") == state / "postgres"
    assert (state / "postgres").is_dir() and not (state / "postgres").is_symlink()
    assert not (tmp_path / "system").exists()


def test_each_state_directory_has_its_own_outside_directory(tmp_path: Path) -> None:
    base = tmp_path / "system"
    first, second = outside_dir(tmp_path / "a", "postgres", base), outside_dir(tmp_path / "b", "postgres", base)
    assert first != second and first.parent == second.parent == base
    assert outside_dir(tmp_path / "a", "mariadb", base) != first


@pytest.mark.skipif(os.geteuid() != 0, reason="acting for a system user needs root")
def test_a_private_home_sends_the_files_outside_and_an_unreachable_outside_is_a_clear_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)  # like /root
    nobody = pwd.getpwnam("nobody")
    run_as = RunAs(user="nobody", uid=nobody.pw_uid, gid=nobody.pw_gid)
    with pytest.raises(PlatformError, match="TRANSIT_SYSTEM_DATA_DIR"):
        run_as.server_dir(tmp_path / "state", "postgres", tmp_path / "system")  # under the same closed home
    var_lib = Path(tempfile.mkdtemp(prefix="transit-var-lib-"))
    try:
        var_lib.chmod(0o755)
        target = run_as.server_dir(tmp_path / "state", "postgres", var_lib / "transit-status")
        assert (tmp_path / "state" / "postgres").resolve() == target and target.parent == var_lib / "transit-status"
        assert (target.stat().st_uid, stat.S_IMODE(target.stat().st_mode)) == (nobody.pw_uid, 0o700)
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
        assert remove_outside_dirs(tmp_path / "state", var_lib / "transit-status") == [target]
    finally:
        shutil.rmtree(var_lib)


def modes_up_from(path: Path) -> dict[Path, int]:
    return {parent: parent.stat().st_mode for parent in [path, *path.parents]}


@pytest.mark.system  # starts PostgreSQL and MariaDB
@pytest.mark.skipif(os.geteuid() != 0, reason="the databases switch to their system users only when run as root")
def test_root_runs_the_databases_from_a_private_home_without_opening_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    home = tmp_path_factory.mktemp("home")  # pytest's directories are 0700, like /root
    home.chmod(0o700)
    var_lib = Path(tempfile.mkdtemp(prefix="transit-var-lib-"))  # like /var/lib: root's, open to search
    var_lib.chmod(0o755)
    base = var_lib / "transit-status"
    before = modes_up_from(home)
    settings = isolated_settings(home / "checkout" / ".transit", system_data_dir=base)
    platform = Platform(settings, report=print, services=[*postgres.specs(settings), *mariadb.specs(settings)])
    try:
        platform.up()
        assert modes_up_from(home) == before  # no parent of the state directory was opened
        for name, user in (("postgres", "postgres"), ("mariadb", "mysql")):
            link = settings.state_dir / name
            assert link.is_symlink() and link.resolve().parent == base
            owner = link.resolve().stat()
            assert (owner.st_uid, stat.S_IMODE(owner.st_mode)) == (pwd.getpwnam(user).pw_uid, 0o700)
            assert psutil.Process(platform.running()[name].pid).username() == user
        with postgres.connect(settings) as conn:
            assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] > 0  # type: ignore[index]
        assert mariadb.stations_answer(settings)
    finally:
        platform.reset()
        remaining = list(base.iterdir())
        shutil.rmtree(var_lib)
    assert remaining == [] and not settings.state_dir.exists()  # reset removes both
