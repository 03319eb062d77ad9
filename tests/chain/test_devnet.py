"""The devnet chain end to end: one SQLite file seen by several instances (= processes)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from bittensor.intents.weights import clip_to_max_weight, normalize
from bittensor.sp_core import Keypair

from resi.chain import Chain, check_chain
from resi.chain.devnet import DevnetChain
from resi.errors import ChainError

ALICE = Keypair.create_from_uri("//Alice").ss58_address
BOB = Keypair.create_from_uri("//Bob").ss58_address
CHARLIE = Keypair.create_from_uri("//Charlie").ss58_address
DAVE = Keypair.create_from_uri("//Dave").ss58_address


class Clock:
    """A settable clock so block numbers are exact without sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def view(path: Path, clock: Clock, signer: str | None = None, **kw: object) -> DevnetChain:
    """Another process's view of the same chain file."""
    options: dict = {"netuid": 46, "block_time": 12.0, "weights_rate_limit": 10, "timeout": 10.0}
    options.update(kw)
    return DevnetChain(path, signer_hotkey=signer, clock=clock, **options)


def seed(chain: DevnetChain) -> dict[str, int]:
    return {
        ALICE: chain.register(ALICE, "cold-a", stake=5_000.0, validator_permit=True),
        BOB: chain.register(BOB, "cold-b", stake=0.0, validator_permit=False),
        CHARLIE: chain.register(CHARLIE, "cold-c", stake=10.0, validator_permit=False),
    }


@pytest.mark.anyio
async def test_devnet_chain_satisfies_protocol_and_health(devnet_chain: DevnetChain) -> None:
    assert isinstance(devnet_chain, Chain)
    devnet_chain.register(ALICE, "cold", 1.0, True)
    ok, detail = await check_chain(devnet_chain)
    assert ok and "1 neurons" in detail


@pytest.mark.anyio
async def test_registration_is_shared_and_idempotent(tmp_path: Path) -> None:
    clock = Clock()
    admin = view(tmp_path / "c.sqlite", clock)
    uids = seed(admin)
    assert sorted(uids.values()) == [0, 1, 2]
    # Registering again keeps the uid and updates stake/permit.
    assert admin.register(BOB, "cold-b", stake=7.0, validator_permit=True) == uids[BOB]

    other = view(tmp_path / "c.sqlite", clock)
    snap = await other.metagraph()
    assert snap.netuid == 46 and snap.tempo == 360
    assert snap.hotkeys == (ALICE, BOB, CHARLIE)
    bob = snap.by_hotkey(BOB)
    assert bob is not None and bob.stake == 7.0 and bob.validator_permit and bob.coldkey == "cold-b"


@pytest.mark.anyio
async def test_block_number_from_shared_genesis(tmp_path: Path) -> None:
    clock = Clock()
    first = view(tmp_path / "c.sqlite", clock)
    assert await first.current_block() == 0
    clock.now += 12 * 5 + 11.9
    # A second process opening the file later agrees on genesis and the block number.
    late = view(tmp_path / "c.sqlite", Clock(clock.now))
    assert await late.current_block() == 5
    assert late.genesis == first.genesis
    assert (await late.metagraph()).block == 5


def test_block_time_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    view(tmp_path / "c.sqlite", Clock()).block_sync()
    with pytest.raises(ChainError, match="block_time"):
        view(tmp_path / "c.sqlite", Clock(), block_time=0.5).block_sync()


@pytest.mark.anyio
async def test_set_weights_requires_registration_and_permit(tmp_path: Path) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    unregistered = view(tmp_path / "c.sqlite", clock, signer=DAVE)
    receipt = await unregistered.set_weights([0, 1], [0.5, 0.5])
    assert not receipt.ok and receipt.message.startswith("not_registered:")

    no_permit = view(tmp_path / "c.sqlite", clock, signer=BOB)
    receipt = await no_permit.set_weights([0, 1], [0.5, 0.5])
    assert not receipt.ok and receipt.message.startswith("no_permit:")

    read_only = view(tmp_path / "c.sqlite", clock)
    assert (await read_only.set_weights([0], [1.0])).message.startswith("no_signer:")
    assert await read_only.weights_history() == []


@pytest.mark.anyio
async def test_stored_weights_equal_bittensor_normalize(tmp_path: Path) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE)
    uids, weights = [0, 1, 2], [0.1, 0.7, 0.2]
    receipt = await validator.set_weights(uids, weights)
    assert receipt.ok, receipt.message

    expected_uids, expected_vals = normalize(uids, weights)
    assert receipt.uids == tuple(expected_uids)
    assert receipt.weights_u16 == tuple(expected_vals) == (9362, 65535, 18724)

    reader = view(tmp_path / "c.sqlite", clock)
    latest = await reader.latest_weights(ALICE)
    assert latest is not None
    assert latest.uids == tuple(expected_uids) and latest.weights_u16 == tuple(expected_vals)
    assert latest.validator_uid == 0 and latest.block == 0 and latest.netuid == 46


@pytest.mark.anyio
async def test_zero_weights_are_dropped_like_the_sdk(tmp_path: Path) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE)
    receipt = await validator.set_weights([0, 1, 2], [1e-6, 1.0, 0.0])
    assert receipt.ok
    assert (receipt.uids, receipt.weights_u16) == ((1,), (65535,))


@pytest.mark.anyio
async def test_max_weight_limit_clips_before_normalize(tmp_path: Path) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    limit = 32_768  # u16 share ~0.5
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE, max_weight_limit=limit)
    weights = [0.1, 0.7, 0.2]
    receipt = await validator.set_weights([0, 1, 2], weights)
    expected = normalize([0, 1, 2], clip_to_max_weight(weights, limit / 65_535))
    assert [list(receipt.uids), list(receipt.weights_u16)] == [list(x) for x in expected]
    assert receipt.weights_u16 != tuple(normalize([0, 1, 2], weights)[1])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("uids", "weights"),
    [
        ([0, 1], [math.nan, 1.0]),
        ([0, 1], [-1.0, 1.0]),
        ([0, 0], [1.0, 1.0]),
        ([0, 1], [1.0]),
        ([0, 1], [0.0, 0.0]),
        ([0, 9], [1.0, 1.0]),  # uid 9 is not registered
    ],
)
async def test_invalid_weights_are_refused_not_stored(
    tmp_path: Path, uids: list[int], weights: list[float]
) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE)
    receipt = await validator.set_weights(uids, weights)
    assert not receipt.ok and receipt.message.startswith("invalid_weights:")
    assert await validator.weights_history() == []


@pytest.mark.anyio
async def test_rate_limit_counts_blocks_since_last_set(tmp_path: Path) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE, weights_rate_limit=10)
    assert (await validator.set_weights([1], [1.0])).ok

    clock.now += 12 * 9  # 9 blocks later: one short of the limit
    refused = await validator.set_weights([2], [1.0])
    assert not refused.ok and refused.message.startswith("rate_limited:")
    assert "Retry in ~1 blocks" in refused.message

    clock.now += 12  # exactly 10 blocks: the chain allows since >= limit
    assert (await validator.set_weights([2], [1.0])).ok
    history = await view(tmp_path / "c.sqlite", clock).weights_history(ALICE)
    assert [(r.block, r.uids) for r in history] == [(0, (1,)), (10, (2,))]


@pytest.mark.anyio
async def test_two_processes_racing_one_hotkey_store_once(tmp_path: Path) -> None:
    """Regression: check-then-insert must be atomic, or a validator could double-set weights."""
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    views = [view(tmp_path / "c.sqlite", clock, signer=ALICE) for _ in range(4)]
    receipts = []

    async def submit(chain: DevnetChain) -> None:
        receipts.append(await chain.set_weights([1, 2], [0.5, 0.5]))

    async with anyio.create_task_group() as tg:
        for chain in views:
            tg.start_soon(submit, chain)
    assert sum(r.ok for r in receipts) == 1
    assert len(await views[0].weights_history()) == 1


@pytest.mark.anyio
async def test_history_filters_by_validator(tmp_path: Path) -> None:
    clock = Clock()
    admin = view(tmp_path / "c.sqlite", clock)
    seed(admin)
    admin.register(DAVE, "cold-d", 100.0, True)
    assert (await view(tmp_path / "c.sqlite", clock, signer=ALICE).set_weights([1], [1])).ok
    assert (await view(tmp_path / "c.sqlite", clock, signer=DAVE).set_weights([2], [1])).ok
    everyone = await admin.weights_history()
    assert [r.validator_hotkey for r in everyone] == [ALICE, DAVE]
    assert [r.uids for r in await admin.weights_history(DAVE)] == [(2,)]
    assert await admin.latest_weights(BOB) is None


def test_weights_set_by_another_process_are_visible(tmp_path: Path) -> None:
    """A real child process sets weights on the shared file; this process reads them."""
    path = tmp_path / "c.sqlite"
    parent = DevnetChain(path, netuid=46, block_time=0.5, weights_rate_limit=1)
    parent.register(ALICE, "cold-a", 1_000.0, True)
    parent.register(BOB, "cold-b", 0.0, False)
    child = textwrap.dedent(
        f"""
        import anyio, json
        from resi.chain.devnet import DevnetChain

        async def main():
            chain = DevnetChain({str(path)!r}, netuid=46, block_time=0.5,
                                signer_hotkey={ALICE!r}, weights_rate_limit=1)
            receipt = await chain.set_weights([0, 1], [0.25, 0.75])
            print(json.dumps({{"ok": receipt.ok, "message": receipt.message}}))

        anyio.run(main)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout)["ok"] is True
    records = parent.weights_history_sync(ALICE)
    assert len(records) == 1
    assert [list(records[0].uids), list(records[0].weights_u16)] == [
        list(x) for x in normalize([0, 1], [0.25, 0.75])
    ]


@pytest.mark.anyio
async def test_served_axon_is_shared_with_every_reader_and_only_for_the_registered(
    tmp_path: Path,
) -> None:
    clock = Clock()
    seed(view(tmp_path / "c.sqlite", clock))
    validator = view(tmp_path / "c.sqlite", clock, signer=ALICE)
    await validator.serve_axon("127.0.0.1", 8092)
    await validator.serve_axon("127.0.0.1", 8093)  # a new port replaces the old one
    snap = await view(tmp_path / "c.sqlite", clock).metagraph()
    alice, bob = snap.by_hotkey(ALICE), snap.by_hotkey(BOB)
    assert alice is not None and alice.axon == "127.0.0.1:8093"
    assert bob is not None and bob.axon is None
    with pytest.raises(ChainError, match="not_registered"):
        await view(tmp_path / "c.sqlite", clock, signer=DAVE).serve_axon("127.0.0.1", 9000)
    with pytest.raises(ChainError, match="no_signer"):
        await view(tmp_path / "c.sqlite", clock).serve_axon("127.0.0.1", 9000)
