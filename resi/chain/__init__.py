"""Chain access: the ``Chain`` protocol, and a factory choosing devnet or bittensor from config.

``open_chain`` picks ``DevnetChain`` when ``settings.network == "devnet"`` and
``BittensorChain`` otherwise; ``check_chain`` is the probe behind ``resi health``.
"""

from __future__ import annotations

from typing import Any, Protocol

from resi.chain.base import Chain, MetagraphSnapshot, Neuron, WeightsReceipt, WeightsRecord
from resi.errors import ChainError

__all__ = [
    "Chain",
    "ChainLike",
    "MetagraphSnapshot",
    "Neuron",
    "WeightsReceipt",
    "WeightsRecord",
    "check_chain",
    "open_chain",
]


class ChainLike(Protocol):
    """The settings fields ``open_chain`` reads (any role's settings object has them)."""

    @property
    def network(self) -> str: ...
    @property
    def netuid(self) -> int: ...
    @property
    def chain_timeout(self) -> float: ...
    @property
    def devnet_chain_path(self) -> Any: ...
    @property
    def block_time(self) -> float: ...


def open_chain(
    settings: ChainLike, *, signer_hotkey: str | None = None, wallet: Any = None
) -> Chain:
    """The chain named by ``settings.network``; nothing connects until the first call.

    ``signer_hotkey`` is the ss58 address weights are set as on the devnet chain; ``wallet`` (a
    ``bt.Wallet`` or hotkey ``Keypair``) signs on a real chain. Both may be None for read-only
    use. A devnet ``weights_rate_limit`` is read from the settings when they carry one.
    """
    if settings.network == "devnet":
        from resi.chain.devnet import DevnetChain

        if signer_hotkey is None and wallet is not None:
            signer_hotkey = _hotkey_address(wallet)
        return DevnetChain(
            settings.devnet_chain_path,
            netuid=settings.netuid,
            block_time=settings.block_time,
            signer_hotkey=signer_hotkey,
            weights_rate_limit=int(getattr(settings, "weights_rate_limit", 100)),
            timeout=settings.chain_timeout,
        )
    from resi.chain.bittensor_chain import BittensorChain

    return BittensorChain(settings.network, settings.netuid, wallet, timeout=settings.chain_timeout)


def _hotkey_address(wallet: Any) -> str:
    hotkey = getattr(wallet, "hotkey", None)
    return str((hotkey if hotkey is not None else wallet).ss58_address)


async def check_chain(chain: Chain) -> tuple[bool, str]:
    """Probe ``chain`` for ``resi health``: ``(True, "block N, K neurons")`` or ``(False, why)``.

    Never raises for chain failures (they are the answer); other errors propagate.
    """
    try:
        snapshot = await chain.metagraph()
    except ChainError as exc:
        return False, str(exc)
    return True, (
        f"netuid {snapshot.netuid} at block {snapshot.block}, {len(snapshot.neurons)} neurons"
    )
