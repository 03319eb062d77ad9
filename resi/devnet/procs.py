"""Child-process supervision for the devnet: free loopback ports, logged children, clean stop.

Every child gets its own log file in the data directory and its own session (so a Ctrl-C in the
terminal reaches only the orchestrator, which then stops the children in reverse start order).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
import httpx
from anyio.abc import Process

from resi.errors import DevnetError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def process_tree(root: int) -> dict[int, int]:
    """``root`` and every live descendant (read from /proc), each mapped to its parent pid."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # exited while we looked
            parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [c for c, p in parent.items() if p == pid and c not in tree]
    return {pid: parent.get(pid, 0) for pid in tree}


def resi_argv(*args: str) -> list[str]:
    """Command line that runs ``resi ARGS``: the console script installed beside this interpreter,
    or this interpreter importing the app (a source checkout without an install)."""
    script = Path(sys.executable).with_name("resi")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from resi.cli.app import main; main()", *args]


def module_argv(module: str, *args: str) -> list[str]:
    """Command line that runs ``python -m MODULE ARGS`` with this interpreter."""
    return [sys.executable, "-m", module, *args]


@dataclass
class Child:
    """One running child process and where its output goes."""

    name: str
    argv: list[str]
    log_path: Path
    process: Process
    log_file: IO[bytes]
    expected_exit: bool = False

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the child's log (for error messages)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    """Starts children with logs under ``log_dir`` and stops them all, newest first."""

    log_dir: Path
    base_env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        expected_exit: bool = False,
    ) -> Child:
        """Start ``argv`` as child ``name``; stdout and stderr go to ``log_dir/name.log``.

        ``expected_exit`` marks a child that may finish on its own (not a failure when it does).
        Raises ``DevnetError`` when the program cannot be started.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = log_path.open("ab")
        full_env = {**self.base_env, **(env or {}), "PYTHONUNBUFFERED": "1"}
        try:
            process = await anyio.open_process(
                list(argv),
                stdin=None,
                stdout=log_file,
                stderr=log_file,
                env=full_env,
                start_new_session=True,
            )
        except OSError as exc:
            log_file.close()
            raise DevnetError(f"cannot start {name}: {exc.strerror}", str(log_path)) from None
        child = Child(name, list(argv), log_path, process, log_file, expected_exit)
        self.children.append(child)
        return child

    def crashed(self) -> list[Child]:
        """Children that exited although they were meant to keep running."""
        return [c for c in self.children if c.returncode is not None and not c.expected_exit]

    def check(self) -> None:
        """Raise ``DevnetError`` naming the first child that died unexpectedly."""
        for child in self.crashed():
            raise DevnetError(
                f"{child.name} exited with code {child.returncode}; last log lines:\n"
                f"{child.tail()}",
                str(child.log_path),
            )

    async def stop_all(self, grace: float = 8.0) -> None:
        """SIGTERM every child (newest first), wait up to ``grace`` s, then SIGKILL the rest."""
        for child in reversed(self.children):
            _signal(child, signal.SIGTERM)
        with anyio.move_on_after(grace, shield=True):
            for child in reversed(self.children):
                await child.process.wait()
        for child in reversed(self.children):
            if child.returncode is None:
                _signal(child, signal.SIGKILL)
                with anyio.move_on_after(2, shield=True):
                    await child.process.wait()
        for child in self.children:
            child.log_file.close()


def _signal(child: Child, sig: signal.Signals) -> None:
    if child.returncode is not None:
        return
    try:
        # The child leads its own session; signal the group so grandchildren stop too.
        os.killpg(child.process.pid, sig)
    except ProcessLookupError:
        pass


async def wait_http_ok(
    url: str,
    *,
    within: float,
    child: Child | None = None,
    supervisor: Supervisor | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``url`` until it answers 200; fail fast when ``child`` (or any child) dies.

    Raises ``DevnetError`` after ``within`` seconds or when the child exits first.
    """
    async with httpx.AsyncClient(timeout=2.0) as http:
        with anyio.move_on_after(within):
            while True:
                if supervisor is not None:
                    supervisor.check()
                if child is not None and child.returncode is not None:
                    raise DevnetError(
                        f"{child.name} exited with code {child.returncode} while starting:\n"
                        f"{child.tail()}",
                        str(child.log_path),
                    )
                try:
                    response = await http.get(url)
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await anyio.sleep(interval)
    where = str(child.log_path) if child is not None else None
    raise DevnetError(f"{url} did not answer 200 within {within:.0f} s", where)
