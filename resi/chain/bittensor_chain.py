"""The ``Chain`` protocol over bittensor 11's async client.

Connects lazily on first use (the async ``bt.Client`` that ``await bt.Subtensor(network,
substrate=...)`` yields, on the running loop), bounds every call by ``timeout`` (the SDK can
otherwise stall for minutes on an unresponsive node), and translates SDK errors into
``resi.errors``. Weights go through ``client.execute(bt.SetWeights(...))``, which conforms them
(clip, normalize, u16) and preflights registration and the rate limit before signing; those
refusals come back as ``WeightsReceipt(ok=False, "<code>: ...")`` rather than exceptions.

Stake unit: ``Neuron.stake`` is ``total_stake.amount`` of the runtime metagraph, i.e. the
neuron's total stake expressed in the subnet's own alpha token (rao / 1e9). It is not TAO
(``Balance.tao`` refuses alpha balances); compare it with alpha-denominated thresholds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from resi.chain.base import MetagraphSnapshot, Neuron, WeightsReceipt
from resi.errors import ChainError, ChainTimeout, ConfigError

if TYPE_CHECKING:
    from bittensor import Client

T = TypeVar("T")

# SDK ErrorCode values that mean "the chain (or its preflight) refused these weights";
# everything else is a failure of the call itself and raises ChainError.
_REFUSAL_CODES = {"rate_limited", "not_registered", "not_authorized", "invalid_argument"}


class BittensorChain:
    """bittensor-backed ``Chain``; ``signer`` is a ``bt.Wallet`` or a hotkey ``Keypair``.

    ``substrate`` is the SDK's backend seam (any ``bt.Substrate``); tests pass an in-memory
    fake, production leaves it None (RPC to ``network``). ``fallback_endpoints=None`` keeps the
    SDK's default pool for named networks; ``[]`` pins the client to one endpoint.
    """

    def __init__(
        self,
        network: str,
        netuid: int,
        signer: Any = None,
        *,
        timeout: float = 20.0,
        substrate: Any = None,
        fallback_endpoints: list[str] | None = None,
    ) -> None:
        self.network = network
        self.netuid = netuid
        self.signer = signer
        self.timeout = timeout
        self._substrate = substrate
        self._fallback_endpoints = fallback_endpoints
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    @property
    def signer_hotkey(self) -> str | None:
        """The ss58 address weights are signed with, or None for a read-only chain."""
        if self.signer is None:
            return None
        hotkey = getattr(self.signer, "hotkey", None)  # a Wallet carries its hotkey
        keypair = hotkey if hotkey is not None else self.signer
        return str(keypair.ss58_address)

    async def _bounded(self, what: str, awaitable: Awaitable[T]) -> T:
        """Await ``awaitable`` within ``timeout``; translate SDK errors into resi errors."""
        import bittensor as bt

        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except TimeoutError:
            raise ChainTimeout(
                f"chain {self.network}: {what} did not finish within {self.timeout}s"
            ) from None
        except bt.RpcConnectionError as exc:
            raise ChainError(f"chain {self.network} unreachable during {what}: {exc}") from None
        except bt.BittensorError as exc:
            raise ChainError(f"chain {self.network}: {what} failed: {exc}") from None
        except OSError as exc:
            raise ChainError(f"chain {self.network} unreachable during {what}: {exc}") from None

    async def _connected(self) -> Client:
        """The async client, connecting on first use (retried on the next call after a failure)."""
        async with self._lock:
            if self._client is not None:
                return self._client
            import bittensor as bt

            try:
                # What `await bt.Subtensor(network, substrate=...)` yields, built directly so a
                # failed connect can be closed through the public API.
                client = bt.Client(
                    self.network,
                    substrate=self._substrate,
                    fallback_endpoints=self._fallback_endpoints,
                )
            except ValueError as exc:  # unknown network name
                raise ConfigError(f"invalid network: {exc}") from None
            try:
                await self._bounded("connect", client.connect())
            except ChainError:
                # A half-open connection would keep reconnecting in the background.
                with contextlib.suppress(bt.BittensorError, OSError, TimeoutError):
                    await asyncio.wait_for(client.close(), 2.0)
                raise
            self._client = client
            return client

    async def metagraph(self) -> MetagraphSnapshot:
        """A fresh snapshot of the subnet. Raises ``ChainError`` / ``ChainTimeout``."""
        client = await self._connected()
        graph = await self._bounded(
            "metagraph", client.subnets.metagraph(self.netuid, commitments=False)
        )
        if graph is None:
            raise ChainError(f"subnet {self.netuid} does not exist on {self.network}")
        return MetagraphSnapshot(
            netuid=self.netuid,
            block=int(graph.block),
            tempo=int(graph.tempo),
            neurons=tuple(
                Neuron(
                    uid=int(n.uid),
                    hotkey=str(n.hotkey),
                    coldkey=str(n.coldkey),
                    stake=float(n.total_stake.amount),
                    validator_permit=bool(n.validator_permit),
                    axon=getattr(n, "axon", None) or None,
                )
                for n in graph.neurons
            ),
        )

    async def current_block(self) -> int:
        """The head block number. Raises ``ChainError`` / ``ChainTimeout``."""
        client = await self._connected()
        return int(await self._bounded("current_block", client.block()))

    async def set_weights(self, uids: Sequence[int], weights: Sequence[float]) -> WeightsReceipt:
        """Submit weights (not waiting for finalization); refusals come back as ``ok=False``.

        Raises ``ChainTimeout`` when the submission does not finish in time (the extrinsic may
        still land: re-read the chain before resubmitting) and ``ChainError`` for transport
        failures.
        """
        import bittensor as bt

        if self.signer is None:
            return WeightsReceipt(False, "no_signer: this chain was opened without a wallet")
        try:
            intent = bt.SetWeights(
                netuid=self.netuid,
                uids=[int(u) for u in uids],
                weights=[float(w) for w in weights],
            )
        except bt.BittensorError as exc:
            return WeightsReceipt(False, f"invalid_weights: {exc}")
        try:
            result = await self._submit(intent, "set_weights")
        except bt.ChainError as exc:
            code = exc.code.value if exc.code is not None else "unknown"
            if code in _REFUSAL_CODES:
                label = "invalid_weights" if code == "invalid_argument" else code
                return WeightsReceipt(False, f"{label}: {exc.message}")
            raise ChainError(f"chain {self.network}: set_weights failed: {exc}") from None
        except bt.RpcConnectionError as exc:
            raise ChainError(
                f"chain {self.network} unreachable during set_weights: {exc}"
            ) from None
        except bt.BittensorError as exc:
            # The SDK's own argument checks (NaN, negative, all zero) raise plain BittensorError.
            return WeightsReceipt(False, f"invalid_weights: {exc}")
        if not result.success:
            error = result.error
            code = error.code.value if error is not None and error.code is not None else "failed"
            return WeightsReceipt(False, f"{code}: {result.message}", block_hash=result.block_hash)
        return WeightsReceipt(True, result.message or "ok", block_hash=result.block_hash)

    async def serve_axon(self, host: str, port: int) -> None:
        """Publish ``host:port`` as this hotkey's axon (``bt.ServeAxon``), not waiting for finality.

        Raises ``ChainError`` when the chain refuses it (not registered, serving rate limit) or
        is unreachable, ``ChainTimeout`` when the submission does not finish in time.
        """
        import bittensor as bt

        if self.signer is None:
            raise ChainError("no_signer: this chain was opened without a wallet")
        try:
            intent = bt.ServeAxon(netuid=self.netuid, ip=host, port=int(port))
        except bt.BittensorError as exc:
            raise ChainError(f"invalid_argument: {exc}") from None
        try:
            result = await self._submit(intent, "serve_axon")
        except (bt.ChainError, bt.RpcConnectionError, bt.BittensorError) as exc:
            raise ChainError(f"chain {self.network}: serve_axon failed: {exc}") from None
        if not result.success:
            raise ChainError(f"chain {self.network}: serve_axon refused: {result.message}")

    async def _submit(self, intent: Any, what: str) -> Any:
        """Execute ``intent`` signed by this chain's signer, not waiting for finalization.

        Raises ``ChainTimeout`` when it does not finish in time (it may still land: re-read the
        chain before resubmitting); the SDK's own errors propagate for the caller to sort.
        """
        client = await self._connected()
        try:
            return await asyncio.wait_for(
                client.execute(intent, self.signer, wait_for_finalization=False, retries=2),
                self.timeout,
            )
        except TimeoutError:
            raise ChainTimeout(
                f"chain {self.network}: {what} did not finish within {self.timeout}s "
                "(it may still land; re-read the chain before resubmitting)"
            ) from None

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            import bittensor as bt

            with contextlib.suppress(bt.BittensorError, OSError, TimeoutError):
                await asyncio.wait_for(client.close(), self.timeout)

    def __repr__(self) -> str:
        return f"BittensorChain(network={self.network!r}, netuid={self.netuid})"
