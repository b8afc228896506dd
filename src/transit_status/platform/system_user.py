"""Which system user runs a database server: ourselves, or its own user when we are root.

PostgreSQL and MariaDB refuse to run as root; Debian's packages create their users (``postgres``,
``mysql``). That user must reach the server's files, and we never widen anybody's access for it:
an earlier version added ``o+x`` to every parent of the state directory, which opened ``/root``
(and any home the state directory sat in) to every local user. Now a server's directory is
``<state>/<name>`` when the server's user can already reach it (a state directory under ``/tmp``
or ``/srv``, say); otherwise it is a directory that user owns under ``settings.system_data_dir``
(``/var/lib/transit-status``, outside any home), and ``<state>/<name>`` is a symbolic link to it,
so the state directory still names all of its data and ``platform reset`` removes both.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from transit_status.platform.errors import MissingDependencyError, PlatformError

# Written into each directory made outside the state directory: whose data it is.
OWNER_NOTE = "state-dir"


@dataclass(frozen=True)
class RunAs:
    """Which system user runs the server: ourselves (``user`` None), or ``user`` when we are root."""

    user: str | None
    uid: int
    gid: int

    @classmethod
    def for_current_process(cls, system_user: str, install_hint: str) -> RunAs:
        if os.geteuid() != 0:
            return cls(user=None, uid=os.geteuid(), gid=os.getegid())
        try:
            entry = pwd.getpwnam(system_user)
        except KeyError as missing:
            raise MissingDependencyError(
                f"running as root, the server needs the '{system_user}' system user: {install_hint}"
            ) from missing
        return cls(user=system_user, uid=entry.pw_uid, gid=entry.pw_gid)

    def popen_kwargs(self) -> dict[str, object]:
        if self.user is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [grp.getgrgid(self.gid).gr_gid]}

    def groups(self) -> frozenset[int]:
        """The server process's groups: its primary group only (``popen_kwargs``' extra_groups)."""
        return frozenset({self.gid})

    def give(self, path: Path) -> None:
        """Make ``path`` (a directory tree we created) belong to the server's user."""
        if self.user is None:
            return
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid)

    def server_dir(self, state_dir: Path, name: str, system_data_dir: Path) -> Path:
        """The real directory the server keeps its files in (created if missing), owned by its user.

        Decided once per state directory: an existing ``<state>/<name>`` (directory or link) is kept.
        """
        link = state_dir / name
        if link.is_symlink():
            target = link.resolve()
            if not target.is_dir():
                raise PlatformError(f"{link} points to {target}, which is gone: run `transit-status platform reset`")
            return target
        if link.is_dir():
            return link
        state_dir.mkdir(parents=True, exist_ok=True)  # with the umask's modes: checked like the rest
        if self.user is None or can_traverse(state_dir, self.uid, self.groups()):
            link.mkdir()
            self.give(link)
            return link
        target = outside_dir(state_dir, name, system_data_dir)
        # The base is root's, readable by all (like /var/lib); each server's directory is its user's alone.
        system_data_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        if not can_traverse(system_data_dir, self.uid, self.groups()):
            raise PlatformError(
                f"{self.user} can reach neither the state directory {state_dir} nor {system_data_dir}; "
                f"name a directory it can reach with TRANSIT_SYSTEM_DATA_DIR"
            )
        target.mkdir(mode=0o700, exist_ok=True)
        (target / OWNER_NOTE).write_text(f"{state_dir}\n")
        self.give(target)
        link.symlink_to(target, target_is_directory=True)
        return target


def outside_dir(state_dir: Path, name: str, system_data_dir: Path) -> Path:
    """``<system_data_dir>/<name>-<digest of the state directory's path>``: one per state directory."""
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    return system_data_dir / f"{name}-{digest}"


def can_traverse(
    directory: Path, uid: int, gids: Iterable[int], stat_of: Callable[[Path], os.stat_result] = os.stat
) -> bool:
    """Whether a process of ``uid`` (groups ``gids``) may search ``directory`` and every parent of it.

    The owner's, else the group's, else the others' x bit decides, as the kernel does (mode bits only;
    POSIX ACLs are not read, they are rare on the paths a state directory sits in).
    """
    groups = frozenset(gids)
    for path in [directory, *directory.parents]:
        mode = stat_of(path)
        if mode.st_uid == uid:
            bit = stat.S_IXUSR
        elif mode.st_gid in groups:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not mode.st_mode & bit:
            return False
    return True


def remove_outside_dirs(state_dir: Path, system_data_dir: Path) -> list[Path]:
    """Delete the servers' directories that ``state_dir`` links to under ``system_data_dir``; returns them."""
    removed: list[Path] = []
    if not state_dir.is_dir():
        return removed
    base = system_data_dir.resolve()
    for entry in state_dir.iterdir():
        if not entry.is_symlink():
            continue
        target = entry.resolve()
        # Only what we made: inside the base, and saying it belongs to this state directory.
        note = target / OWNER_NOTE
        if target.parent == base and note.is_file() and note.read_text().strip() == str(state_dir):
            shutil.rmtree(target)
            removed.append(target)
    return removed
