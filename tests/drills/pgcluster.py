"""A private, throw-away PostgreSQL cluster for drills that stop and start the database.

The machine's shared PostgreSQL is never touched: ``PrivateCluster`` runs ``initdb``/``pg_ctl``
from the Debian packages (``/usr/lib/postgresql/<version>/bin``) on a free loopback port with its
data in a fresh directory under /tmp. PostgreSQL refuses to run as root, so when the tests run as
root every command goes through ``runuser -u postgres`` and the directory is handed to that user
(pytest's own tmp_path is private to root, hence /tmp).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.drills.harness import free_port

RUN_AS = "postgres"


def _bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class PrivateCluster:
    """One PostgreSQL server of our own: ``init()``, ``start()``, ``stop()``, ``destroy()``."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            pytest.skip("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) not installed")
        self.bin = bin_dir
        self.prefix: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="resi-drill-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(RUN_AS)
            except KeyError:
                shutil.rmtree(self.root)
                pytest.skip(f"running as root and there is no {RUN_AS!r} user for PostgreSQL")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", RUN_AS, "--"]
        self.port = free_port()
        self.data = self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        result = subprocess.run(
            [*self.prefix, *args], capture_output=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{args[0]} failed ({result.returncode}): {result.stderr.decode()[-2000:]}"
            )

    def init(self) -> PrivateCluster:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        return self

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-w", "-t", "60", "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, disconnect every client)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", mode,
                  "stop")  # fmt: skip

    def running(self) -> bool:
        result = subprocess.run(
            [*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
