"""The `Chain` seam: what resi needs from a chain (metagraph snapshot, block, weights).

Implementations: `resi.chain.devnet.DevnetChain` (local SQLite file shared by local processes)
and `resi.chain.bittensor_chain.BittensorChain` (bittensor 11). Values here are plain frozen
dataclasses so pure code (scoring, weights) never imports the SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Neuron:
    uid: int
    hotkey: str
    coldkey: str
    stake: float
    validator_permit: bool
    axon: str | None = None  # the served endpoint "ip:port" (a validator's assignment relay)


@dataclass(frozen=True)
class MetagraphSnapshot:
    netuid: int
    block: int
    tempo: int
    neurons: tuple[Neuron, ...] = ()

    def by_hotkey(self, hotkey: str) -> Neuron | None:
        """The neuron registered under ``hotkey``, or None."""
        for n in self.neurons:
            if n.hotkey == hotkey:
                return n
        return None

    @property
    def hotkeys(self) -> tuple[str, ...]:
        return tuple(n.hotkey for n in self.neurons)


@dataclass(frozen=True)
class WeightsReceipt:
    ok: bool
    message: str
    block_hash: str | None = None
    uids: tuple[int, ...] = field(default=())
    weights_u16: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class WeightsRecord:
    """One accepted weight setting as the chain stored it (u16 values after normalize)."""

    netuid: int
    block: int
    validator_hotkey: str
    validator_uid: int
    uids: tuple[int, ...]
    weights_u16: tuple[int, ...]
    time: float


@runtime_checkable
class Chain(Protocol):
    """Async chain access; every call is bounded by the implementation's timeout."""

    async def metagraph(self) -> MetagraphSnapshot:
        """A fresh snapshot of the subnet. Raises ``ChainError`` / ``ChainTimeout``."""
        ...

    async def current_block(self) -> int:
        """The head block number. Raises ``ChainError`` / ``ChainTimeout``."""
        ...

    async def set_weights(self, uids: Sequence[int], weights: Sequence[float]) -> WeightsReceipt:
        """Submit weights signed by this process's hotkey; refusals come back as ``ok=False``."""
        ...

    async def serve_axon(self, host: str, port: int) -> None:
        """Publish this process's hotkey endpoint ``host:port`` on the subnet.

        Raises ``ChainError`` when the chain refuses it (not registered, rate limited).
        """
        ...

    async def close(self) -> None:
        """Release connections; safe to call twice."""
        ...
