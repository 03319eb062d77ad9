"""Operator controls (`resi admin`): signed by an owner hotkey, recorded, visible in /metrics.

Runs on SQLite and PostgreSQL (the ``db_url`` fixture): the audit table and the epoch window
update are one transaction on both. Attacks first: an unsigned request, a registered miner's
signature and a replayed request are refused and leave no trace in the audit table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from bittensor.sp_core import Keypair

from resi.api import client as paths
from resi.api.admin_routes import AdminActionOut, AdminActions, ExtendEpochRequest, SelectionRequest
from resi.api.background import run_manager_once
from resi.api.client import ApiClient
from resi.config import EpochSettings
from resi.epoch.manager import EpochManager
from resi.epoch.models import ZipcodeInfo
from resi.epoch.store import admin as store_admin
from resi.errors import ApiError
from tests.drills.harness import clean_env, resi_argv
from tests.fixtures.api import TEST_SECRET

OWNER = Keypair.create_from_uri("//resi-owner")


async def _admin(client: ApiClient, method: str, path: str, model: Any, body: Any = None) -> Any:
    return await client._call(method, path, model, body=body, retry=False)


@pytest.mark.anyio
async def test_owner_actions_are_applied_recorded_and_counted(
    api_factory: Any, db_url: str
) -> None:
    async with api_factory(db_url, owner_hotkeys=(OWNER.ss58_address,)) as s:
        active = s.epochs.active
        owner = s.client(OWNER)
        miner = s.client(s.keys.miner)
        try:
            # attacks: unsigned, a registered miner, an epoch that is already over, too long
            with pytest.raises(ApiError) as unsigned:
                async with s.client(None) as anonymous:
                    await _admin(anonymous, "POST", paths.ADMIN_PAUSE, AdminActionOut,
                                 SelectionRequest())  # fmt: skip
            with pytest.raises(ApiError) as not_owner:
                await _admin(miner, "POST", paths.ADMIN_PAUSE, AdminActionOut, SelectionRequest())
            with pytest.raises(ApiError) as over:
                body = ExtendEpochRequest(epoch_id=s.epochs.completed.epoch_id, minutes=30)
                await _admin(owner, "POST", paths.ADMIN_EXTEND, AdminActionOut, body)
            with pytest.raises(ApiError) as too_long:
                body = ExtendEpochRequest(epoch_id=active.epoch_id, minutes=10_000)
                await _admin(owner, "POST", paths.ADMIN_EXTEND, AdminActionOut, body)
            assert await store_admin.list_actions(s.store) == []  # refusals leave no trace

            # extend the active epoch by 30 minutes: past the old deadline, miners may commit
            body = ExtendEpochRequest(epoch_id=active.epoch_id, minutes=30, reason="API outage")
            extended = await _admin(owner, "POST", paths.ADMIN_EXTEND, AdminActionOut, body)
            stored = await s.store.get_epoch(active.epoch_id)
            assert stored is not None
            assert stored.deadline == active.deadline + timedelta(minutes=30)
            assert stored.end == active.end + timedelta(minutes=30)
            assert extended.detail["deadline"] == stored.deadline.isoformat()
            s.clock.offset = (active.deadline - s.clock()) + timedelta(minutes=10)
            current = await miner.current_assignment()
            assert current.epoch_id == active.epoch_id and current.deadline == stored.deadline

            # pause, then resume: the newest row decides, on every replica (it is in the DB)
            await _admin(owner, "POST", paths.ADMIN_PAUSE, AdminActionOut,
                         SelectionRequest(reason="bad catalog"))  # fmt: skip
            listed = await _admin(owner, "GET", paths.ADMIN_ACTIONS, AdminActions)
            metrics = await miner.metrics_text()
        finally:
            await owner.aclose()
            await miner.aclose()
    assert unsigned.value.status == 401
    assert not_owner.value.status == 403 and not_owner.value.code == "NOT_OWNER"
    assert over.value.status == 409 and too_long.value.status == 422
    assert listed.selection_paused is True
    assert [a.action for a in listed.actions] == ["pause-selection", "extend-epoch"]
    assert listed.actions[1].hotkey == OWNER.ss58_address
    assert listed.actions[1].detail["reason"] == "API outage"
    assert "resi_api_selection_paused 1" in metrics
    assert 'resi_api_admin_actions_total{action="extend-epoch"} 1' in metrics
    assert 'resi_api_admin_actions_total{action="pause-selection"} 1' in metrics


@pytest.mark.anyio
async def test_a_replayed_admin_request_is_refused(api_factory: Any, db_url: str) -> None:
    """Capture one signed pause request and send it again: the nonce is already spent."""
    async with api_factory(db_url, owner_hotkeys=(OWNER.ss58_address,)) as s:
        sent: list[httpx.Request] = []

        async def capture(request: httpx.Request) -> None:
            sent.append(request)

        owner = s.client(OWNER)
        try:
            owner._http.event_hooks["request"].append(capture)
            await _admin(owner, "POST", paths.ADMIN_PAUSE, AdminActionOut, SelectionRequest())
            first = sent[-1]
            async with httpx.AsyncClient() as raw:
                replay = await raw.post(str(first.url), content=first.content,
                                        headers=dict(first.headers))  # fmt: skip
        finally:
            await owner.aclose()
        actions = await store_admin.list_actions(s.store)
    assert replay.status_code == 401 and replay.json()["error"] == "ReplayedRequest"
    assert len(actions) == 1


@pytest.mark.anyio
async def test_paused_selection_creates_no_epochs_until_resumed(
    api_factory: Any, db_url: str
) -> None:
    async with api_factory(db_url, owner_hotkeys=(OWNER.ss58_address,)) as s:
        catalog = [
            ZipcodeInfo(f"{20000 + i:05d}", "NY", "T", "C", 40.0, -74.0, "STANDARD", 300,
                        "STANDARD", "Northeast")
            for i in range(60)
        ]  # fmt: skip
        settings = EpochSettings(target_listings=3_000, cooldown_hours=0)
        manager = EpochManager(s.store, settings, TEST_SECRET, catalog)
        s.clock.offset = timedelta(days=30)  # a window with no stored epochs
        future = manager.clock.epoch_id_at(s.clock())
        owner = s.client(OWNER)
        try:
            await _admin(owner, "POST", paths.ADMIN_PAUSE, AdminActionOut, SelectionRequest())
            assert await run_manager_once(s.state, manager)
            paused_epoch = await s.store.get_epoch(future)
            await _admin(owner, "POST", paths.ADMIN_RESUME, AdminActionOut, SelectionRequest())
            assert await run_manager_once(s.state, manager)
            resumed_epoch = await s.store.get_epoch(future)
        finally:
            await owner.aclose()
    assert paused_epoch is None
    assert resumed_epoch is not None
    assert s.state.metrics.selection_paused.get() == 0.0


@pytest.mark.anyio
async def test_resi_admin_cli_lists_the_audit_trail(
    api_factory: Any, sqlite_url: str, wallets: Callable[[int], list[Any]]
) -> None:
    (owner,) = wallets(1)
    async with api_factory(sqlite_url, owner_hotkeys=(owner.hotkey_ss58,)) as s:
        common = ("--wallet", owner.name, "--hotkey", owner.hotkey,
                  "--wallet-path", str(owner.path), "--api-url", s.base_url)  # fmt: skip
        paused = await anyio.run_process(
            resi_argv("admin", "pause-selection", "--reason", "drill", *common),
            check=False, env=clean_env(),
        )  # fmt: skip
        listed = await anyio.run_process(
            resi_argv("admin", "list-actions", "--json", *common), check=False, env=clean_env()
        )
    assert paused.returncode == 0, paused.stderr.decode()
    assert "pause-selection by" in paused.stdout.decode()
    doc = json.loads(listed.stdout)
    assert doc["selection_paused"] is True
    assert [a["detail"]["reason"] for a in doc["actions"]] == ["drill"]
