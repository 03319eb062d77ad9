"""Only the S3 port of the embedded SeaweedFS is usable without a secret (issue 13).

The attack: ``weed mini`` also listens on master, volume and filer HTTP ports (and their gRPC
ports). Unlocked, any local process could GET a miner's object through the filer and POST over
it, so the validator would see HASH_MISMATCH and score the victim as a liar. Every port the
process really opened (read from /proc, not from our own port list) gets unsigned GET, POST, PUT
and DELETE requests; none may read or change anything.
"""

from __future__ import annotations

import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from resi.s3.bypass import attack_paths, probe_ports
from resi.s3.local import GRPC_OFFSET, LocalS3, listening_ports
from tests.fixtures.s3 import issuer_for

pytestmark = pytest.mark.anyio

_KEY = "data/hotkey=5Victim/epoch=2030-01-01T00-00-00/zipcode=10001/" + "a" * 64 + ".parquet"


@pytest.fixture(scope="module")
def private_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalS3]:
    """A server of its own: if a bypass worked it would damage shared data."""
    server = LocalS3(tmp_path_factory.mktemp("weed-ports"), bucket="victim-bucket")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_listening_ports_reads_proc_for_a_process(private_s3: LocalS3) -> None:
    ports = private_s3.listening_ports()
    assert private_s3.ports["s3"] in ports
    assert private_s3.ports["filer"] in ports  # the filer HTTP port is really open ...
    assert listening_ports(2**22 + 7) == []  # ... and a missing process has none


def _service_ports(server: LocalS3) -> set[int]:
    return {p + offset for p in server.ports.values() for offset in (0, GRPC_OFFSET)}


async def _once_all_listening(server: LocalS3) -> list[int]:
    """The ports the process listens on, once every service port and its gRPC twin is open.

    ``weed mini`` opens the admin HTTP port a moment after S3 answers (``start()`` waits only
    for S3), so reading /proc at once missed it on a loaded machine. Waits on the ports
    themselves; after a minute returns what is open, and the caller's assertion says what
    is missing.
    """
    deadline = time.monotonic() + 60.0
    while True:
        ports = server.listening_ports()
        if _service_ports(server) <= set(ports) or time.monotonic() > deadline:
            return ports
        await anyio.sleep(0.05)


async def test_no_port_but_signed_s3_reads_or_writes_an_object(private_s3: LocalS3) -> None:
    content = b"PAR1" + secrets.token_bytes(64) + b"PAR1"
    async with issuer_for(private_s3) as issuer:
        await issuer.put_bytes(_KEY, content)
        before = [o.key async for o in issuer.list_keys("data/")]
        ports = await _once_all_listening(private_s3)
        # master, volume, filer, s3, admin and each one's gRPC port at least
        assert _service_ports(private_s3) <= set(ports)
        attempts = probe_ports(
            "127.0.0.1", ports, attack_paths(private_s3.bucket, _KEY), secret=content
        )
        achieved = [a for a in attempts if a.achieved]
        assert achieved == []
        # The object is intact and nothing was added.
        assert await issuer.get_bytes(_KEY) == content
        assert [o.key async for o in issuer.list_keys("data/")] == before
        # The bucket still works for signed clients after the barrage.
        assert (await issuer.probe()).ok
    # Every HTTP service port was reached and answered with a refusal, not silence.
    answered = {a.port for a in attempts if a.status is not None}
    for name in ("master", "volume", "filer", "s3"):
        assert private_s3.ports[name] in answered


def test_security_file_is_private_and_fresh_per_start(private_s3: LocalS3) -> None:
    path = Path(private_s3.data_dir) / "security.toml"
    assert path.stat().st_mode & 0o077 == 0
    text = path.read_text()
    for section in ("[jwt.signing]", "[jwt.signing.read]", "[jwt.filer_signing]"):
        assert section in text
    assert 'key = ""' not in text


def _tls_refused(port: int, ca: Path) -> bool:
    """True if a TLS client WITHOUT a certificate is turned away by the gRPC server on ``port``."""
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                # TLS 1.3: the server's "certificate required" alert arrives after the handshake.
                tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                return tls.recv(1) == b""
        except (ssl.SSLError, ConnectionError):
            return True


def test_grpc_ports_demand_a_client_certificate(private_s3: LocalS3) -> None:
    """A local gRPC client (weed shell, grpcurl) could edit the filer; mTLS turns it away."""
    ca = Path(private_s3.data_dir) / "tls" / "ca.crt"
    assert ca.is_file()
    assert (Path(private_s3.data_dir) / "tls" / "node.key").stat().st_mode & 0o077 == 0
    for name in ("master", "volume", "filer", "s3"):
        port = private_s3.ports[name] + 10_000
        assert port in private_s3.listening_ports()
        assert _tls_refused(port, ca), f"{name} gRPC port {port} accepted a client without a cert"
