"""Read miner files in a child process with a hard memory cap and a per-file time limit.

``read_listings`` with ``ReadLimits`` already refuses files whose footer or decoded size is over
a cap, deterministically. What it cannot see in advance is a compression bomb inside one page
(the page header alone says how large it inflates), so the validator reads every file in one
long-lived worker process whose address space is capped (``RLIMIT_AS`` = the worker's size
after start-up + ``read_memory_mib``) and which uses the system allocator with one thread, so the
cap is honest. An allocation beyond it fails inside the worker and the file gets
``LIMIT_EXCEEDED``; a file that takes longer than ``read_timeout_seconds`` gets
``LIMIT_EXCEEDED`` too (the worker is killed and restarted); a worker that dies gets
``UNSUPPORTED_VALUE``.

The validator sends *jobs* (``resi.validate.assessing``): a chunk of a zipcode's files that the
worker reads and assesses in place, answering with the assessments, so the validator process
never holds a miner's table. A single file can also be read and its decoded, capped table
handed over (``FileReader.read``: Arrow IPC stream bytes on the worker's stdout, read straight
into one Arrow buffer); ``bench/bench_hostile.py`` and the hostile-file tests use that.

Run as ``python -m resi.validate.filecheck`` it is that worker: one JSON request per stdin line,
one JSON answer per stdout line, followed by ``arrow_bytes`` bytes of IPC stream when a file
was read, or ``json_bytes`` bytes of JSON text (a job's assessments).
"""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import weakref
from dataclasses import asdict
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_WORKER_ENV = {"ARROW_DEFAULT_MEMORY_POOL": "system", "MALLOC_ARENA_MAX": "1"}


class FileReader:
    """A capped worker process that reads listings files one at a time (thread-safe)."""

    def __init__(self, memory_mib: int, timeout: float) -> None:
        self.memory_mib = memory_mib
        self.timeout = timeout
        self._box: list[subprocess.Popen[bytes] | None] = [None]
        self._lock = threading.Lock()
        # the worker (and its pipes) go when the reader does, however its owner shuts down
        weakref.finalize(self, _stop_box, self._box)

    @property
    def _proc(self) -> subprocess.Popen[bytes] | None:
        return self._box[0]

    @_proc.setter
    def _proc(self, proc: subprocess.Popen[bytes] | None) -> None:
        self._box[0] = proc

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, **_WORKER_ENV, "RESI_READ_MEMORY_MIB": str(self.memory_mib)}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "resi.validate.filecheck"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
        return self._proc

    @property
    def pid(self) -> int | None:
        """The worker's process id while it runs (for monitoring), else None."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def close(self) -> None:
        """Stop the worker (if running)."""
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        _stop_box(self._box)

    def read(self, path: Path, limits: Any) -> dict[str, Any]:
        """Read ``path`` under ``limits`` (a ``ReadLimits``) in the worker.

        Returns the worker's answer: ``{"reason": None, "meta": {...}, "table": pa.Table}`` or
        ``{"reason": CODE, "detail": text}``. Blocking; never raises for file content.
        """
        request = {"path": str(path), "limits": asdict(limits)}
        return self.call(request, self.timeout, what=str(path))

    def call(self, request: dict[str, Any], timeout: float, *, what: str) -> dict[str, Any]:
        """Send one request and wait up to ``timeout`` seconds for its answer (blocking).

        A worker that dies, or does not answer in time, is stopped (the next call starts a
        fresh one) and the answer is ``{"reason": UNSUPPORTED_VALUE | LIMIT_EXCEEDED, ...}``.
        An answer followed by Arrow IPC bytes gets the decoded ``"table"``; one followed by
        JSON text (a job's assessments) gets those bytes as ``"json"``.
        """
        with self._lock:
            # start-up time does not count against the file
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(request).encode() + b"\n")
                proc.stdin.flush()
            except OSError:
                self._stop()
                return {"reason": "UNSUPPORTED_VALUE", "detail": "file reader died"}
            ready, _, _ = select.select([proc.stdout], [], [], timeout)
            if not ready:
                self._stop()
                return {
                    "reason": "LIMIT_EXCEEDED",
                    "detail": f"reading took longer than {timeout:g} s",
                }
            line = proc.stdout.readline()
            if not line:
                code = proc.wait()
                self._stop()
                log.warning("file reader died on %s (exit %s)", what, code)
                return {"reason": "UNSUPPORTED_VALUE", "detail": "file reader died"}
            answer: dict[str, Any] = json.loads(line)
            size = answer.pop("arrow_bytes", None)
            if size is not None:
                table = _receive_table(proc.stdout, int(size))
                if table is None:
                    return self._died_sending(what)
                answer["table"] = table
            size = answer.pop("json_bytes", None)
            if size is not None:
                data = proc.stdout.read(int(size))
                if len(data) < int(size):
                    return self._died_sending(what)
                answer["json"] = data
            return answer

    def _died_sending(self, what: str) -> dict[str, Any]:
        self._stop()
        log.warning("file reader died sending %s", what)
        return {"reason": "UNSUPPORTED_VALUE", "detail": "file reader died"}


def _receive_table(stream: Any, size: int) -> Any:
    """The table the worker sends as ``size`` bytes of Arrow IPC stream, or None if cut short.

    The bytes land in one Arrow-allocated (aligned) buffer the table's columns then point into.
    """
    import pyarrow as pa

    buf = pa.allocate_buffer(size)
    view, got = memoryview(buf), 0
    while got < size:
        n = stream.readinto(view[got:])
        if not n:
            return None
        got += n
    return pa.ipc.open_stream(buf).read_all()


def _stop_box(box: list[subprocess.Popen[bytes] | None]) -> None:
    proc, box[0] = box[0], None
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def _cap_address_space(memory_mib: int) -> None:
    import resource

    with open("/proc/self/status") as fh:
        size_kb = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmSize:"))
    cap = size_kb * 1024 + memory_mib * 1_048_576
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _serve() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq  # noqa: F401 - loaded before the cap is measured

    from resi.errors import ListingFileError
    from resi.scrape.listing import LIMIT_EXCEEDED, ReadLimits, read_listings
    from resi.validate.assessing import answer_job  # the scoring modules, before the cap

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    # warm up lazily loaded parts so their mappings count in the base size, not the budget
    pa.table({"a": ["x"]}).to_batches()
    _cap_address_space(int(os.environ.get("RESI_READ_MEMORY_MIB", "1024")))
    out = sys.stdout.buffer
    for line in sys.stdin:
        request = json.loads(line)
        answer: dict[str, Any]
        data = None
        if request.get("op") == "assess":
            answer, payload = answer_job(request)
            out.write(json.dumps(answer).encode() + b"\n" + payload)
            out.flush()
            continue
        try:
            table, meta = read_listings(Path(request["path"]), ReadLimits(**request["limits"]))
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            data = sink.getvalue()
            del table
            answer = {"reason": None, "meta": asdict(meta), "arrow_bytes": data.size}
        except ListingFileError as exc:
            answer = {"reason": exc.reason, "detail": str(exc)}
        except (MemoryError, pa.ArrowMemoryError) as exc:
            answer = {"reason": LIMIT_EXCEEDED, "detail": f"out of the read budget: {exc}"}
        except Exception as exc:  # anything else a file provokes is that file's outcome
            answer = {"reason": "UNSUPPORTED_VALUE", "detail": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer).encode() + b"\n")
        if data is not None and "arrow_bytes" in answer:
            out.write(data)
        data = None
        out.flush()


if __name__ == "__main__":
    _serve()
