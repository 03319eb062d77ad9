"""The LocalS3 harness: ports, concurrent instances, clean stop, restart with data intact."""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path

import pytest

from resi.s3.local import LocalS3, pick_ports
from tests.fixtures.s3 import issuer_for

pytestmark = pytest.mark.anyio


def test_pick_ports_leaves_room_for_grpc_ports() -> None:
    ports = pick_ports(5, random.Random(7))
    assert len(set(ports)) == 5
    grpc = {p + 10_000 for p in ports}
    assert not grpc & set(ports)
    assert all(20_000 <= p < 55_535 for p in ports)


def _stray_sockets(ports: Iterable[int]) -> list[Path]:
    found: list[Path] = []
    for port in ports:
        for p in (port, port + 10_000):
            found += Path("/tmp").glob(f"seaweedfs-*-{p}.sock")
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); Popen.wait() in stop() reaps it, so alive means running.
    return True


async def test_second_instance_runs_beside_the_session_server_and_survives_restart(
    local_s3: LocalS3, tmp_path: Path
) -> None:
    server = LocalS3(tmp_path / "weed", bucket="side")
    async with server:
        assert server.endpoint != local_s3.endpoint
        first_pid, first_key = server.pid, server.access_key
        ports = dict(server._ports)
        async with issuer_for(server) as issuer:
            await issuer.put_bytes("keep/me", b"persisted")
    assert first_pid is not None and not _pid_alive(first_pid)
    assert not server.running
    assert _stray_sockets(ports.values()) == []
    # Logs and sockets stay inside the data dir.
    assert (tmp_path / "weed" / "logs").is_dir()

    async with server:
        assert server.access_key == first_key  # credentials survive a restart
        async with issuer_for(server) as issuer:
            assert await issuer.get_bytes("keep/me") == b"persisted"
    # The session server was never disturbed.
    async with issuer_for(local_s3) as issuer:
        assert (await issuer.probe()).ok
