"""Which system user runs a database server: ourselves, or its own user when we are root.

PostgreSQL and MariaDB refuse to run as root; Debian's packages create their users (``postgres``,
``mysql``). Their data then lives in our state directory, which that user must be able to reach.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from transit_status.platform.errors import MissingDependencyError


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

    def give(self, path: Path) -> None:
        """Make ``path`` (a directory tree we created) belong to the server's user."""
        if self.user is None:
            return
        os.chown(path, self.uid, self.gid)
        for root, dirs, files in os.walk(path):
            os.chown(root, self.uid, self.gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), self.uid, self.gid)

    def let_reach(self, state_dir: Path) -> None:
        """Let the server's user reach the state directory (pytest's tmp dirs are 0700)."""
        if self.user is None:
            return
        for parent in [state_dir, *state_dir.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o011)
