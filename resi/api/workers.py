"""`resi serve-api --workers N`: N API processes on one port (``SO_REUSEPORT``).

The kernel spreads incoming connections over the processes. Each worker is an ordinary replica
(its own store pool, metagraph snapshot, epoch manager and purge loop) sharing one PostgreSQL
database, which replicas already do safely: epoch creation and transitions are idempotent, nonces
and rate windows live in the database, so a replay is refused whichever worker sees it. SQLite is
refused for more than one worker (one file written by several processes).

The supervisor (this process) starts the workers, forwards SIGTERM/SIGINT to them and exits when
they have; if one worker dies unexpectedly it stops the others and exits 1 (a process manager
restarts the whole service; half a service would hide the failure).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from multiprocessing.connection import wait
from types import FrameType

from resi.config import ApiServerSettings
from resi.errors import ConfigError

log = logging.getLogger(__name__)

STOP_SECONDS = 30.0


def _worker_main(settings: ApiServerSettings, index: int) -> None:
    import anyio

    from resi.api.app import serve
    from resi.logs import configure_logging_from

    configure_logging_from(settings)
    anyio.run(lambda: serve(settings, reuse_port=True, worker=index))


def check_workers(settings: ApiServerSettings) -> None:
    """Raise ``ConfigError`` when ``settings.workers`` cannot work (SQLite with several)."""
    if settings.workers > 1 and not settings.db_url.startswith("postgres"):
        raise ConfigError(
            f"--workers {settings.workers} needs PostgreSQL (db_url {settings.db_url!r}); "
            "SQLite serves one worker"
        )


def run_workers(settings: ApiServerSettings) -> int:
    """Run ``settings.workers`` API processes until SIGTERM/SIGINT; returns the exit code.

    Raises ``ConfigError`` (see ``check_workers``).
    """
    check_workers(settings)
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_worker_main, args=(settings, i), name=f"resi-api-{i}", daemon=False)
        for i in range(settings.workers)
    ]
    signalled = False

    def stop_all() -> None:
        for p in procs:
            if p.pid is not None and p.exitcode is None:
                os.kill(p.pid, signal.SIGTERM)

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        nonlocal signalled
        signalled = True
        stop_all()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.start()
        log.info("resi API: %d workers on %s:%s", len(procs), settings.host, settings.port)
        wait([p.sentinel for p in procs])  # returns when the first worker exits
        if not signalled:
            dead = [p.name for p in procs if p.exitcode is not None]
            log.error("API worker(s) %s exited unexpectedly; stopping the others", dead)
            stop_all()
        for p in procs:
            p.join(STOP_SECONDS)
            if p.exitcode is None:
                log.error("API worker %s did not stop; killing it", p.name)
                p.kill()
                p.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    clean = all(p.exitcode == 0 for p in procs)
    return 0 if signalled and clean else 1
