"""Strangers cost the API no database writes, little CPU and no log lines (issue 13).

Attacks closed here: an unregistered key with valid signatures made the API store a nonce per
request (unbounded DB writes); a flood of bad signatures made it verify each one (CPU); a request
with an oversized header logged a full traceback (log flooding); a slow body held a handler open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from bittensor import http_auth
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.api.client import CURRENT, EPOCH_INPUTS, STATS, STATUS
from resi.api.iplimit import IpFailureLimiter
from tests.api.test_refusals import assert_error, send
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio

_LATER = datetime.now(UTC) + timedelta(hours=1)


async def _nonce_was_stored(server: ApiServer, hotkey: str, nonce_ns: int) -> bool:
    # check_and_store_nonce answers False only if the row already existed.
    return not await server.store.check_and_store_nonce(hotkey, nonce_ns, _LATER)


async def test_unregistered_key_stores_no_nonce(api_server: ApiServer) -> None:
    stranger, miner = api_server.keys.stranger, api_server.keys.miner
    nonce = time.time_ns()
    r = await send(api_server, stranger, "GET", CURRENT, nonce_ns=nonce)
    assert_error(r, 403, "NOT_REGISTERED")
    assert not await _nonce_was_stored(api_server, stranger.ss58_address, nonce)
    # A validator route for a registered non-validator stores nothing either.
    nonce2 = time.time_ns()
    path = EPOCH_INPUTS.format(epoch_id=api_server.epochs.completed.epoch_id)
    r = await send(api_server, miner, "GET", path, nonce_ns=nonce2)
    assert_error(r, 403, "NOT_VALIDATOR")
    assert not await _nonce_was_stored(api_server, miner.ss58_address, nonce2)
    # Contrast: an admitted request's nonce is stored (replay protection still works).
    nonce3 = time.time_ns()
    assert (await send(api_server, miner, "GET", CURRENT, nonce_ns=nonce3)).status_code == 200
    assert await _nonce_was_stored(api_server, miner.ss58_address, nonce3)


async def _send_from(
    server: ApiServer, source: str, keypair: Any | None, path: str = CURRENT, **hdr: str
) -> httpx.Response:
    headers = dict(hdr)
    if keypair is not None:
        headers.update(http_auth.sign(keypair, method="GET", path=path, body=b""))
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=server.base_url, transport=transport) as http:
        return await http.get(path, headers=headers)


async def test_failure_budget_blocks_one_address_never_another(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, ip_failure_burst=3, ip_failures_per_minute=0) as server:
        miner = server.keys.miner
        for _ in range(2):  # bad signatures from 127.0.0.1
            bad = await _send_from(
                server, "127.0.0.1", None, **{"X-Bittensor-Hotkey": miner.ss58_address}
            )
            assert_error(bad, 401, "MalformedAuth")
        stranger = await _send_from(server, "127.0.0.1", server.keys.stranger)
        assert_error(stranger, 403, "NOT_REGISTERED")
        # Budget spent: a valid registered signature from that address is refused unverified.
        nonce = time.time_ns()
        headers = http_auth.sign(miner, method="GET", path=CURRENT, body=b"", nonce_ns=nonce)
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
        async with httpx.AsyncClient(base_url=server.base_url, transport=transport) as http:
            limited = await http.get(CURRENT, headers=headers)
        assert_error(limited, 429, "ADDRESS_LIMITED")
        assert int(limited.headers["Retry-After"]) >= 1
        assert not await _nonce_was_stored(server, miner.ss58_address, nonce)
        # The same hotkey from another address is served.
        ok = await _send_from(server, "127.0.0.2", miner)
        assert ok.status_code == 200, ok.text
        text = server.state.metrics.render()
        assert 'resi_api_auth_failures_total{reason="ADDRESS_LIMITED"} 1' in text
        # Public routes are never limited.
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.1")
        async with httpx.AsyncClient(base_url=server.base_url, transport=transport) as http:
            assert (await http.get(STATS)).status_code == 200


async def _raw(server: ApiServer, data: bytes) -> bytes:
    parts = urlsplit(server.base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(data)
        await writer.drain()
        return await reader.read()  # the server closes after an error response
    finally:
        writer.close()


async def test_oversized_header_gets_short_error_without_traceback(
    api_server: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    host = urlsplit(api_server.base_url).netloc
    huge = b"GET " + CURRENT.encode() + b" HTTP/1.1\r\nHost: " + host.encode()
    huge += b"\r\nX-Junk: " + b"a" * 40_000 + b"\r\n\r\n"
    answer = await _raw(api_server, huge)
    assert answer.split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert len(answer.split(b"\r\n\r\n", 1)[1]) < 300
    broken = b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde"
    assert (await _raw(api_server, broken)).split(b"\r\n", 1)[0].split(b" ")[1] == b"400"
    assert caplog.records  # the refusals were logged ...
    for record in caplog.records:  # ... as single lines
        assert record.exc_info is None
        assert "Traceback" not in record.getMessage()
    # The server still serves normal requests.
    assert (await send(api_server, api_server.keys.miner, "GET", CURRENT)).status_code == 200


async def test_slow_body_is_cut_off(db_url: str, api_factory: Callable[..., Any]) -> None:
    async with api_factory(db_url, body_read_timeout=0.5) as server:
        host = urlsplit(server.base_url).netloc
        head = f"POST {STATUS} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        head += "Content-Length: 1000\r\nConnection: close\r\n\r\n"
        # Sends 2 of 1,000 bytes and waits for the server's answer (no sleep here).
        answer = await _raw(server, head.encode() + b'{"')
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 408 Request Timeout"
        body = rest.split(b"\r\n\r\n", 1)[1]
        assert b'"error": "BODY_TIMEOUT"' in body
        assert await server.store.miner_statuses(server.epochs.active.epoch_id) == []


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_failure_budget_refills_and_forgets_full_buckets() -> None:
    clock = _Clock()
    limiter = IpFailureLimiter(2, 60.0, clock=clock)  # one token per second
    limiter.charge("a")
    limiter.charge("a")
    assert limiter.retry_after("a") == 1
    clock.t = 1.0
    assert limiter.retry_after("a") == 0
    clock.t = 10.0
    assert limiter.retry_after("a") == 0
    assert limiter._buckets == {}  # full again: forgotten


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    charges=st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "::1"]), max_size=40),
    size=st.integers(1, 3),
)
def test_property_one_address_never_spends_another_budget(charges: list[str], size: int) -> None:
    clock = _Clock()
    limiter = IpFailureLimiter(3, 0.0, size=size, clock=clock)
    for address in charges:
        limiter.charge(address)
    assert limiter.retry_after("192.0.2.9") == 0  # an address that failed nothing
    assert len(limiter._buckets) <= size
    for address in set(charges):
        spent = charges.count(address)
        # never blocked before its own budget is spent
        if spent < 3:
            assert limiter.retry_after(address) == 0
