"""`open_chain` picks the implementation from settings; nothing connects until first use."""

from __future__ import annotations

from pathlib import Path

import pytest
from bittensor.sp_core import Keypair

from resi.chain import open_chain
from resi.chain.bittensor_chain import BittensorChain
from resi.chain.devnet import DevnetChain
from resi.config import ValidatorSettings, load_settings


def test_devnet_settings_open_the_shared_file(tmp_path: Path) -> None:
    settings = load_settings(
        ValidatorSettings,
        {
            "network": "devnet",  # only when asked: `validate` defaults to finney (issue 15)
            "devnet_chain_path": str(tmp_path / "chain.sqlite"),
            "block_time": "0.5",
            "weights_rate_limit": "3",
            "netuid": "7",
        },
        env={},
    )
    alice = Keypair.create_from_uri("//Alice")
    chain = open_chain(settings, wallet=alice)
    assert isinstance(chain, DevnetChain)
    assert (chain.netuid, chain.block_time, chain.weights_rate_limit) == (7, 0.5, 3)
    assert chain.signer_hotkey == alice.ss58_address
    assert not (tmp_path / "chain.sqlite").exists()  # lazy: created on first use


@pytest.mark.parametrize("network", ["finney", "ws://127.0.0.1:9944"])
def test_other_networks_open_bittensor(network: str) -> None:
    settings = load_settings(ValidatorSettings, {"network": network, "chain_timeout": "3"}, env={})
    chain = open_chain(settings)
    assert isinstance(chain, BittensorChain)
    assert (chain.network, chain.netuid, chain.timeout) == (network, 46, 3.0)
    assert chain.signer_hotkey is None
