"""BittensorChain offline: the real SDK code path over an in-memory ``substrate=`` backend,
plus unreachable endpoints on loopback (refused port, and a listener that never answers)."""

from __future__ import annotations

import ipaddress
import math
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import bittensor as bt
import pytest
from bittensor.intents.weights import clip_to_max_weight, normalize
from bittensor.sp_core import Keypair

from resi.chain import Chain, check_chain
from resi.chain.bittensor_chain import BittensorChain
from resi.chain.devnet import DevnetChain
from resi.errors import ChainError, ChainTimeout, ConfigError
from resi.wallet import WalletInfo
from tests.chain.fake_substrate import RAO_PER_UNIT, FakeNeuron, FakeSubstrate

ALICE = Keypair.create_from_uri("//Alice")
BOB = Keypair.create_from_uri("//Bob")
CHARLIE = Keypair.create_from_uri("//Charlie")
NETUID = 46


@pytest.fixture(autouse=True)
def _sdk_cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK caches token symbols under ~/.bittensor on connect; keep tests hermetic.
    monkeypatch.setenv("BTCLI_TOKEN_SYMBOLS_CACHE", str(tmp_path / "token-symbols.json"))


@pytest.fixture
def fake() -> FakeSubstrate:
    return FakeSubstrate(
        netuid=NETUID,
        neurons=[
            FakeNeuron(ALICE.ss58_address, "cold-a", 4_000 * RAO_PER_UNIT, True),
            FakeNeuron(BOB.ss58_address, "cold-b", 1_500_000_000, False),
            FakeNeuron(CHARLIE.ss58_address, "cold-c", 0, False),
        ],
    )


def chain_for(fake: FakeSubstrate, signer: object = ALICE) -> BittensorChain:
    return BittensorChain("test", NETUID, signer, timeout=10.0, substrate=fake)


@pytest.mark.anyio
async def test_metagraph_decoding(fake: FakeSubstrate) -> None:
    chain = chain_for(fake)
    assert isinstance(chain, Chain)
    snap = await chain.metagraph()
    assert (snap.netuid, snap.block, snap.tempo) == (NETUID, 1_000, 360)
    assert snap.hotkeys == (ALICE.ss58_address, BOB.ss58_address, CHARLIE.ss58_address)
    alice = snap.by_hotkey(ALICE.ss58_address)
    bob = snap.by_hotkey(BOB.ss58_address)
    assert alice is not None and bob is not None
    # total_stake comes in rao of the subnet's alpha; the snapshot carries whole alpha units.
    assert (alice.uid, alice.coldkey, alice.stake, alice.validator_permit) == (
        0,
        "cold-a",
        4_000.0,
        True,
    )
    assert bob.stake == 1.5 and not bob.validator_permit
    assert await chain.current_block() == 1_000
    assert (await check_chain(chain))[0]
    await chain.close()
    await chain.close()


@pytest.mark.anyio
async def test_missing_subnet_is_a_chain_error(fake: FakeSubstrate) -> None:
    chain = BittensorChain("test", 99, ALICE, substrate=fake)
    with pytest.raises(ChainError, match="subnet 99 does not exist"):
        await chain.metagraph()
    ok, detail = await check_chain(chain)
    assert not ok and "99" in detail


@pytest.mark.anyio
async def test_set_weights_submits_sdk_conformed_u16(fake: FakeSubstrate) -> None:
    chain = chain_for(fake)
    receipt = await chain.set_weights([0, 1, 2], [0.1, 0.7, 0.2])
    assert receipt.ok and receipt.block_hash == "0xfeed"
    (sent,) = fake.submitted
    assert (sent.module, sent.function) == ("SubtensorModule", "set_mechanism_weights")
    assert sent.signer_ss58 == ALICE.ss58_address
    assert sent.params["netuid"] == NETUID
    assert (sent.params["dests"], sent.params["weights"]) == normalize([0, 1, 2], [0.1, 0.7, 0.2])


@pytest.mark.anyio
@pytest.mark.parametrize("max_limit", [65_535, 40_000, 20_000])
@pytest.mark.parametrize(
    "weights", [[0.1, 0.7, 0.2], [1.0, 1e-6, 0.5], [0.0, 3.0, 1.0], [0.2, 0.2, 0.6]]
)
async def test_devnet_stores_what_bittensor_would_send(
    fake: FakeSubstrate, tmp_path: Path, max_limit: int, weights: list[float]
) -> None:
    """The devnet chain and the real SDK path conform identical inputs to identical u16s."""
    fake.max_weights_limit = max_limit
    receipt = await chain_for(fake).set_weights([0, 1, 2], weights)
    assert receipt.ok, receipt.message
    (sent,) = fake.submitted

    devnet = DevnetChain(
        tmp_path / "c.sqlite",
        netuid=NETUID,
        block_time=12.0,
        signer_hotkey=ALICE.ss58_address,
        max_weight_limit=max_limit,
    )
    for n in fake.neurons:
        devnet.register(n.hotkey, n.coldkey, n.stake_rao / RAO_PER_UNIT, n.validator_permit)
    stored = await devnet.set_weights([0, 1, 2], weights)
    assert stored.ok
    assert (list(stored.uids), list(stored.weights_u16)) == (
        sent.params["dests"],
        sent.params["weights"],
    )
    if max_limit < 65_535:
        clipped = clip_to_max_weight(weights, max_limit / 65_535)
        assert sent.params["weights"] == normalize([0, 1, 2], clipped)[1]


@pytest.mark.anyio
async def test_rate_limit_refusal_submits_nothing(fake: FakeSubstrate) -> None:
    fake.neurons[0].last_update = fake.head - 5
    receipt = await chain_for(fake).set_weights([1, 2], [0.5, 0.5])
    assert not receipt.ok
    assert receipt.message.startswith("rate_limited:") and "~95 blocks" in receipt.message
    assert fake.submitted == []


@pytest.mark.anyio
async def test_unregistered_signer_is_refused(fake: FakeSubstrate) -> None:
    receipt = await chain_for(fake, Keypair.create_from_uri("//Eve")).set_weights([1], [1.0])
    assert not receipt.ok and receipt.message.startswith("not_registered:")
    assert fake.submitted == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("uids", "weights"),
    [([1, 2], [math.nan, 1.0]), ([1, 1], [0.5, 0.5]), ([1, 2], [0.0, 0.0]), ([1, 2], [1.0])],
)
async def test_invalid_weights_are_refused(
    fake: FakeSubstrate, uids: list[int], weights: list[float]
) -> None:
    receipt = await chain_for(fake).set_weights(uids, weights)
    assert not receipt.ok and receipt.message.startswith("invalid_weights:")
    assert fake.submitted == []


@pytest.mark.anyio
async def test_min_allowed_weights_refusal(fake: FakeSubstrate) -> None:
    fake.min_allowed_weights = 3
    receipt = await chain_for(fake).set_weights([1, 2], [0.5, 0.5])
    assert not receipt.ok and receipt.message.startswith("invalid_weights:")


@pytest.mark.anyio
async def test_failed_submission_is_reported(fake: FakeSubstrate) -> None:
    fake.fail_submit_with = "pool rejected: priority is too low"
    fake.seconds_per_block = 0.01  # the SDK waits one block between resubmissions
    receipt = await chain_for(fake).set_weights([1, 2], [0.5, 0.5])
    assert not receipt.ok and "priority is too low" in receipt.message
    assert len(fake.submitted) == 3  # retries=2: transient pool rejections are resubmitted


@pytest.mark.anyio
async def test_read_only_chain_cannot_set_weights(fake: FakeSubstrate) -> None:
    receipt = await chain_for(fake, None).set_weights([1], [1.0])
    assert not receipt.ok and receipt.message.startswith("no_signer:")


@pytest.mark.anyio
async def test_wallet_on_disk_signs_with_its_hotkey(
    fake: FakeSubstrate, wallets: Callable[[int], list[WalletInfo]]
) -> None:
    (info,) = wallets(1)
    fake.neurons.append(FakeNeuron(info.hotkey_ss58, info.coldkey_ss58, 10 * RAO_PER_UNIT, True))
    wallet = bt.Wallet(name=info.name, hotkey=info.hotkey, path=str(info.path))
    chain = chain_for(fake, wallet)
    assert chain.signer_hotkey == info.hotkey_ss58
    receipt = await chain.set_weights([0, 3], [1.0, 1.0])
    assert receipt.ok, receipt.message
    assert fake.submitted[-1].signer_ss58 == info.hotkey_ss58


@pytest.mark.anyio
async def test_unknown_network_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="network"):
        await BittensorChain("no-such-net", NETUID, None).metagraph()


# ----------------------------------------------------------------- unreachable endpoints


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A listener that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_refused_endpoint_fails_with_clear_chain_error() -> None:
    port = _closed_port()
    chain = BittensorChain(f"ws://127.0.0.1:{port}", NETUID, None, timeout=5.0)
    with pytest.raises(ChainError, match=rf"unreachable during connect: .*{port}"):
        await chain.metagraph()
    # The next call retries the connection and fails the same way.
    with pytest.raises(ChainError, match="unreachable"):
        await chain.current_block()
    ok, detail = await check_chain(chain)
    assert not ok and "unreachable" in detail
    await chain.close()


@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_blackholed_endpoint_times_out_with_chain_timeout(blackhole: int) -> None:
    chain = BittensorChain(f"ws://127.0.0.1:{blackhole}", NETUID, ALICE, timeout=1.0)
    with pytest.raises(ChainTimeout, match=r"connect did not finish within 1\.0s"):
        await chain.metagraph()
    with pytest.raises(ChainTimeout):
        await chain.set_weights([0], [1.0])
    await chain.close()


@pytest.mark.anyio
async def test_serve_axon_submits_the_endpoint_and_the_metagraph_reads_it_back(
    fake: FakeSubstrate,
) -> None:
    """A validator publishes its relay as its axon; miners read it from the metagraph."""
    chain = chain_for(fake)
    await chain.serve_axon("10.1.2.3", 8091)
    (sent,) = fake.submitted
    assert (sent.module, sent.function) == ("SubtensorModule", "serve_axon")
    assert sent.signer_ss58 == ALICE.ss58_address
    assert (sent.params["netuid"], sent.params["port"]) == (NETUID, 8091)
    assert sent.params["ip"] == int(ipaddress.IPv4Address("10.1.2.3"))
    # What the chain then stores comes back as "ip:port" on the neuron.
    fake.neurons[0].axon = {"ip": sent.params["ip"], "port": 8091, "ip_type": 4}
    snap = await chain.metagraph()
    alice, bob = snap.by_hotkey(ALICE.ss58_address), snap.by_hotkey(BOB.ss58_address)
    assert alice is not None and alice.axon == "10.1.2.3:8091"
    assert bob is not None and bob.axon is None


@pytest.mark.anyio
async def test_serve_axon_refusals_are_chain_errors(fake: FakeSubstrate) -> None:
    fake.fail_submit_with = "Custom error: ServingRateLimitExceeded"
    with pytest.raises(ChainError, match="serve_axon refused"):
        await chain_for(fake).serve_axon("10.1.2.3", 8091)
    with pytest.raises(ChainError, match="no_signer"):
        await chain_for(fake, signer=None).serve_axon("10.1.2.3", 8091)
