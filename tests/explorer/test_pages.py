"""The explorer's pages over a real API: content, secrets of running epochs, escaping, caching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest

from resi.api.explorer import CACHE_KEY
from resi.api.schemas import MinerZipcodeSummary
from resi.epoch.secrets import validation_seed
from resi.score.consensus import consensus_hash
from tests.explorer.helpers import add_commits, make_summary, post_summary
from tests.fixtures.api import TEST_SECRET, ApiServer

pytestmark = pytest.mark.anyio


async def _pages(server: ApiServer) -> dict[str, httpx.Response]:
    e = server.epochs
    paths = ["/", "/validators", f"/epoch/{e.completed.epoch_id}", f"/epoch/{e.active.epoch_id}"]
    paths += [f"/epoch/{e.pending.epoch_id}"]
    paths += [f"/miner/{k.ss58_address}" for k in (server.keys.miner, server.keys.miner2)]
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        return {p: await http.get(p) for p in paths}


async def test_pages_show_epochs_winners_and_reasons(api_server: ApiServer) -> None:
    server = api_server
    done = server.epochs.completed
    await add_commits(server, done)
    await post_summary(server, done)
    receipt = await anyio.to_thread.run_sync(
        lambda: server.chain.set_weights_sync([0], [1.0], hotkey=server.keys.validator.ss58_address)
    )
    assert receipt.ok, receipt.message
    weights = await server.chain.latest_weights(server.keys.validator.ss58_address)
    assert weights is not None
    pages = await _pages(server)
    miner = server.keys.miner.ss58_address
    assert all(
        pages[p].status_code == 200
        for p in pages
        if "pending" not in p and p != (f"/epoch/{server.epochs.pending.epoch_id}")
    )
    index = pages["/"].text
    assert done.epoch_id in index and server.epochs.active.epoch_id in index
    assert "COMPLETED" in index and "1/1 (100%)" in index
    epoch = pages[f"/epoch/{done.epoch_id}"].text
    assert "<svg" in epoch and 'data-zipcode="10001"' in epoch
    assert "pt-won" in epoch
    # Honeypots stay secret after completion too (DESIGN §5): no marker, no revealing code.
    assert "honeypot" not in epoch.lower() and "LIAR" in epoch
    assert f'href="/miner/{miner}"' in epoch
    assert "T3_MISMATCH" in epoch
    assert '<th scope="col">' in epoch
    miner_html = pages[f"/miner/{miner}"].text
    assert "1.000000000" in miner_html and "RANKED" in miner_html and "<svg" in miner_html
    validators = pages["/validators"].text
    assert server.keys.validator.ss58_address in validators and "majority" in validators
    assert f"<td>{weights.block}</td>" in validators  # last weights block
    assert pages["/"].headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_running_epoch_reveals_no_honeypot_seed_or_nonce(api_server: ApiServer) -> None:
    """Attack: read every explorer page during an ACTIVE epoch looking for its honeypots, its
    validation seed or nonce, the achieved total (subtracting gives the honeypots' expected
    counts), or any trace of the PENDING epoch."""
    server = api_server
    active, pending = server.epochs.active, server.epochs.pending
    await add_commits(server, active)
    pages = await _pages(server)
    everything = "".join(r.text for r in pages.values())
    for epoch in (active, pending):
        assert validation_seed(TEST_SECRET, epoch.epoch_id) not in everything
        assert epoch.nonce not in everything
    assert pending.epoch_id not in "".join(
        r.text for p, r in pages.items() if p != f"/epoch/{pending.epoch_id}"
    )
    assert pages[f"/epoch/{pending.epoch_id}"].status_code == 404
    page = pages[f"/epoch/{active.epoch_id}"].text
    assert "00501" in page  # listed like any zipcode, unmarked
    assert "honeypot" not in page.lower()
    # which zipcodes others skipped would point at the honeypots: no per-zipcode commit counts
    row = page[page.index("<td><code>10001</code></td>") :].split("</tr>")[0]
    assert '<span class="muted">hidden</span>' in row
    assert f"{active.achieved_sum:,}" not in page


async def test_hostile_text_is_escaped(api_server: ApiServer) -> None:
    """Attack: a validator's summary carries markup as hotkeys and reason codes (XSS)."""
    server = api_server
    done = server.epochs.completed
    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    digest, summary = make_summary(done, server.keys.miner.ss58_address, evil)
    winners = {z: s.winners for z, s in summary.zipcodes.items()}
    from fractions import Fraction

    scores = {k: Fraction(v) for k, v in summary.scores.items()}
    digest = consensus_hash(done.epoch_id, done.nonce, scores, winners)
    miners = dict(summary.miners)
    miners[server.keys.miner.ss58_address] = [
        MinerZipcodeSummary(zipcode="10001", rank=1, reasons=[evil])
    ]
    summary = summary.model_copy(update={"miners": miners})
    await post_summary(server, done, summary, digest)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        epoch = (await http.get(f"/epoch/{done.epoch_id}")).text
        miner = (await http.get(f"/miner/{server.keys.miner.ss58_address}")).text
        evil_page = await http.get("/miner/" + quote(evil, safe=""))
    for html in (epoch, miner, evil_page.text):
        assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in epoch
    assert "&lt;script&gt;" in miner


async def test_pages_are_served_from_one_cached_snapshot(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, explorer_ttl_seconds=3600) as server:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            for path in ("/", "/validators", "/", "/miner/5NoSuchHotkey", "/epoch/x"):
                await http.get(path)
            missing = await http.get("/miner/5NoSuchHotkey")
        assert missing.status_code == 404
        assert server.app[CACHE_KEY].builds == 1


async def test_database_outage_keeps_serving_the_last_pages(
    api_factory: Callable[..., Any], tmp_path: Any
) -> None:
    """A rebuild that fails (database gone) leaves the previous snapshot in service."""
    async with api_factory(
        f"sqlite:///{tmp_path / 'o.sqlite'}", explorer_ttl_seconds=0.001
    ) as server:
        cache = server.app[CACHE_KEY]
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            first = await http.get("/")
            await server.store.close()  # the database is gone from under the API
            second = await http.get("/")  # stale: triggers a rebuild, served the old pages
            assert cache.building is not None
            await cache.building  # the failed rebuild hands back the previous snapshot
            third = await http.get("/")
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.text == second.text == third.text
    assert cache.builds == 1
