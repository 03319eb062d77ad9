"""Every explorer page in a real browser (Debian's headless Chromium): content, no console
errors, screenshots under test-artifacts/explorer/, and an accessibility check."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from resi.epoch.models import EpochState
from resi.epoch.secrets import epoch_nonce
from tests.explorer.browser import open_browser
from tests.explorer.helpers import add_commits, post_summary
from tests.fixtures.api import TEST_SECRET, ApiServer

pytestmark = pytest.mark.anyio
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "explorer"


async def _second_completed_epoch(server: ApiServer) -> Any:
    done = server.epochs.completed
    start = done.start - (done.end - done.start)
    epoch_id = start.strftime("%Y-%m-%dT%H-%M-%S")
    older = dataclasses.replace(
        done,
        epoch_id=epoch_id,
        start=start,
        end=done.start,
        deadline=done.start - timedelta(minutes=30),
        state=EpochState.COMPLETED,
        nonce=epoch_nonce(TEST_SECRET, epoch_id),
    )
    rows = [dataclasses.replace(a, epoch_id=epoch_id) for a in await server.store.get_assignments(
        done.epoch_id
    )]  # fmt: skip
    assert await server.store.insert_epoch(older, rows)
    return older


def _accessibility(dom: str) -> None:
    """Tables carry <th> headers; map outcomes differ by shape and are named in a legend."""
    for t in re.findall(r"<table.*?</table>", dom, flags=re.S):
        assert "<th" in t, "a table without header cells"
    outcomes = dict(re.findall(r'class="pt pt-(\w+)" data-shape="(\w+)"', dom))
    shapes = list(outcomes.values())
    assert len(set(shapes)) == len(shapes), f"two outcomes share a shape: {outcomes}"
    if outcomes:
        legend = dom[dom.index('class="legend"') :]
        assert legend.count("<li>") >= len(outcomes)
    assert all("<title>" in g for g in re.findall(r'<g class="pt.*?</g>', dom, flags=re.S))


async def test_every_page_in_chromium(api_factory: Callable[..., Any], tmp_path: Path) -> None:
    # One backend is enough in the browser; the storage tests run on both.
    db_url = f"sqlite:///{tmp_path / 'explorer.sqlite'}"
    async with api_factory(db_url, explorer_ttl_seconds=3600) as server:
        older = await _second_completed_epoch(server)
        for epoch in (older, server.epochs.completed):
            await add_commits(server, epoch)
            await post_summary(server, epoch)
        await add_commits(server, server.epochs.active)
        miner = server.keys.miner.ss58_address
        pages = {
            "epochs": ("/", [older.epoch_id, "Quorum", "COMPLETED", "ACTIVE"]),
            "epoch": (f"/epoch/{server.epochs.completed.epoch_id}", ["pt-won", "Rank 1"]),
            "epoch-active": (f"/epoch/{server.epochs.active.epoch_id}", ["pt-assigned"]),
            "miner": (f"/miner/{miner}", ["RANKED", "Score per epoch"]),
            "validators": ("/validators", [server.keys.validator.ss58_address, "majority"]),
        }
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        async with open_browser(tmp_path / "profile") as browser:
            for name, (path, expected) in pages.items():
                loaded = await browser.load(server.base_url + path)
                assert loaded.errors == [], f"{path}: console errors {loaded.errors}"
                for text in expected:
                    assert text in loaded.dom, f"{path}: {text!r} missing"
                _accessibility(loaded.dom)
                assert loaded.png.startswith(b"\x89PNG")
                (ARTIFACTS / f"{name}.png").write_bytes(loaded.png)
