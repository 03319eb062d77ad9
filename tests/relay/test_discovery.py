"""The fallback needs no configuration (issue 16): relays are found on the chain, the API's key
is learned from the API, and neither can be planted by a relay.

A validator publishes its relay as its axon (``resi.validate.relay.announce``); a miner that
cannot reach the API asks the validators the metagraph lists (``chain_relays``) and checks the
relayed document against the key it learned from the API and pinned in its workdir.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.api.client import ApiClient
from resi.chain.base import MetagraphSnapshot, Neuron
from resi.chain.devnet import DevnetChain
from resi.scrape.relay_client import PIN_FILE, RelayFallback, chain_relays, relays_from_metagraph
from resi.validate.relay import announce, public_host
from tests.fixtures.api import NETUID
from tests.fixtures.market import RunningMarket
from tests.relay.conftest import SigningApi
from tests.relay.test_miner_fallback import forged_relay, make_miner, validator_relay
from tests.relay.test_validator_relay import closed_port_url

pytestmark = pytest.mark.anyio

ENDPOINT = r"10\.0\.0\.[1-9]:[1-9]\d{3}"


neurons = st.lists(
    st.builds(
        Neuron,
        uid=st.integers(0, 255),
        hotkey=st.text("abcdef", min_size=1, max_size=6),
        coldkey=st.just("c"),
        stake=st.floats(0, 1e6, allow_nan=False),
        validator_permit=st.booleans(),
        axon=st.one_of(st.none(), st.just(""), st.from_regex(ENDPOINT, fullmatch=True)),
    ),
    max_size=12,
    unique_by=lambda n: n.uid,
)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(neurons)
def test_only_served_validators_are_relays_highest_stake_first(found: list[Neuron]) -> None:
    """Property: a miner (no permit) that serves an axon is never asked; order is by stake."""
    snapshot = MetagraphSnapshot(NETUID, 1, 360, tuple(found))
    urls = relays_from_metagraph(snapshot)
    expected = [n for n in found if n.validator_permit and n.axon]
    assert sorted(urls) == sorted(f"http://{n.axon}" for n in expected)
    by_url = {f"http://{n.axon}": n for n in expected}
    stakes = [by_url[u].stake for u in urls]
    assert stakes == sorted(stakes, reverse=True)


def test_a_wildcard_listener_is_not_published_without_a_public_host() -> None:
    assert public_host("0.0.0.0", None) is None
    assert public_host("::", None) is None
    assert public_host("0.0.0.0", "relay.example.org") == "relay.example.org"
    assert public_host("127.0.0.1", None) == "127.0.0.1"


def validator_chain(api: SigningApi) -> DevnetChain:
    """The validator's own view of the test chain (it signs as the validator)."""
    server = api.server
    return DevnetChain(
        server.chain.path,
        netuid=NETUID,
        block_time=0.5,
        signer_hotkey=server.keys.validator.ss58_address,
        timeout=10.0,
    )


async def test_miner_finds_the_relay_on_chain_with_nothing_configured(
    signing_api: SigningApi, sim_market: RunningMarket, tmp_path: Path
) -> None:
    server = signing_api.server
    pin = tmp_path / "w" / PIN_FILE
    async with validator_relay(signing_api) as relay_url:
        port = int(relay_url.rsplit(":", 1)[1])
        vchain = validator_chain(signing_api)
        assert await announce(vchain, server.keys.validator.ss58_address, "127.0.0.1", port)
        assert await announce(vchain, server.keys.validator.ss58_address, "127.0.0.1", port)
        # While the API answers, the miner learns (and pins) the API's key from the API.
        async with (
            RelayFallback((), server.keys.miner, None, discover=chain_relays(server.chain),
                          pin_file=pin) as relay,
            server.client(server.keys.miner) as online,
        ):  # fmt: skip
            miner = make_miner(online, signing_api, sim_market, tmp_path / "w", relay=relay)
            try:
                assert await miner.current_assignment(wait=False) is not None
            finally:
                await miner.aclose()
                await miner.source.aclose()
        assert json.loads(pin.read_text()) == {"api_hotkey": signing_api.hotkey}
        # The API is gone, and this miner has no cached assignment: the chain names the relay.
        async with (
            RelayFallback((), server.keys.miner, None, discover=chain_relays(server.chain),
                          pin_file=pin) as relay,
            ApiClient(closed_port_url(), server.keys.miner, attempts=1) as offline,
        ):  # fmt: skip
            miner = make_miner(offline, signing_api, sim_market, tmp_path / "w2", relay=relay)
            try:
                with anyio.fail_after(30):
                    assignment = await miner.current_assignment(wait=False)
            finally:
                await miner.aclose()
                await miner.source.aclose()
    assert assignment is not None
    assert assignment.epoch_id == server.epochs.active.epoch_id
    assert relay.last_errors == {}
    snapshot = await server.chain.metagraph()
    me = snapshot.by_hotkey(server.keys.validator.ss58_address)
    assert me is not None and me.axon == f"127.0.0.1:{port}"


async def test_a_relay_cannot_plant_its_own_key(signing_api: SigningApi, tmp_path: Path) -> None:
    """The cheapest attack on a fresh miner: a relay serving a self-consistent document signed
    by its own key. With no key learned yet it is refused (nothing to check against); with the
    key pinned from the API it fails the signature; a later API answer never replaces the pin."""
    server = signing_api.server
    pin = tmp_path / PIN_FILE
    async with forged_relay(signing_api) as bad_url:
        async with RelayFallback([bad_url], server.keys.miner, None, pin_file=pin) as fresh:
            assert await fresh() is None
            assert fresh.last_errors == {"api_hotkey": "NO_API_HOTKEY"}
            async with server.client(server.keys.miner) as online:
                assert await fresh.learn(online) == signing_api.hotkey
            assert await fresh() is None
            assert fresh.last_errors == {bad_url: "BAD_SIGNATURE"}
    pin.write_text(json.dumps({"api_hotkey": "5SomeOtherKeyPinnedEarlier"}))
    async with (
        RelayFallback([], server.keys.miner, None, pin_file=pin) as pinned,
        server.client(server.keys.miner) as online,
    ):
        assert await pinned.learn(online) == "5SomeOtherKeyPinnedEarlier"
    assert json.loads(pin.read_text()) == {"api_hotkey": "5SomeOtherKeyPinnedEarlier"}


async def test_discovery_failure_still_asks_the_configured_relays(
    signing_api: SigningApi, tmp_path: Path
) -> None:
    server = signing_api.server
    broken = DevnetChain(tmp_path / "no-such-dir" / "x" / "chain.sqlite", netuid=NETUID,
                         block_time=0.5, timeout=2.0)  # fmt: skip
    (tmp_path / "no-such-dir").write_text("not a directory")  # the chain file cannot open
    async with (
        validator_relay(signing_api) as relay_url,
        RelayFallback([relay_url], server.keys.miner, signing_api.hotkey,
                      discover=chain_relays(broken)) as relay,
    ):  # fmt: skip
        assignment = await relay()
    assert assignment is not None and assignment.epoch_id == server.epochs.active.epoch_id
    assert relay.last_errors == {"chain": "CHAIN_UNAVAILABLE"}
