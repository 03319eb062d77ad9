"""An in-memory ``bittensor.Substrate`` backend: just enough chain for the SDK code we call.

It answers the ``SubnetInfoRuntimeApi.get_metagraph`` runtime call, the storage items that
``SetWeights``' preflight reads (``Uids``, ``WeightsSetRateLimit``, ``LastUpdate``,
``MinAllowedWeights``, ``MaxWeightsLimit``, ``CommitRevealWeightsEnabled``,
``SubnetEpochConsensus``), composes calls as plain dicts and records every submitted call, so
tests see exactly what the real SDK would have sent. The shape of the ``get_metagraph`` record
is what ``bittensor.metagraph._build`` reads; only a real node can confirm it matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bittensor import ExtrinsicResult
from bittensor.balance import Balance

RAO_PER_UNIT = 1_000_000_000


@dataclass
class FakeNeuron:
    hotkey: str
    coldkey: str
    stake_rao: int = 0
    validator_permit: bool = False
    last_update: int = 0
    axon: dict[str, int] | None = None  # as the chain stores it: ip (int), port, ip_type


@dataclass
class Submitted:
    module: str
    function: str
    params: dict[str, Any]
    signer_ss58: str


@dataclass
class FakeSubstrate:
    netuid: int
    neurons: list[FakeNeuron] = field(default_factory=list)
    head: int = 1_000
    tempo: int = 360
    rate_limit: int = 100
    min_allowed_weights: int = 0
    max_weights_limit: int = 65_535
    commit_reveal: bool = False
    seconds_per_block: float = 12.0
    fail_submit_with: str | None = None
    submitted: list[Submitted] = field(default_factory=list)
    token_symbols: dict[int, str] = field(default_factory=dict)
    connected: bool = False

    # lifecycle ---------------------------------------------------------------
    def balance(self, rao: int, netuid: int = 0) -> Balance:
        return Balance.from_rao(int(rao), netuid)

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    # reads -------------------------------------------------------------------
    async def block_number(self) -> int:
        return self.head

    async def finalized_block_number(self) -> int:
        return self.head

    async def block_hash(self, block: int | None = None) -> str:
        return "0x" + f"{self.head if block is None else block:064x}"

    async def block_time(self) -> float:
        return self.seconds_per_block

    async def spec_version(self) -> int:
        return 400

    async def query(
        self,
        module: str,
        storage_function: str,
        params: list | None = None,
        block_hash: str | None = None,
    ) -> Any:
        params = params or []
        if module != "SubtensorModule":
            return None
        if storage_function == "Uids":
            netuid, hotkey = params
            for uid, n in enumerate(self.neurons):
                if netuid == self.netuid and n.hotkey == hotkey:
                    return uid
            return None
        values: dict[str, Any] = {
            "CommitRevealWeightsEnabled": self.commit_reveal,
            "WeightsSetRateLimit": self.rate_limit,
            "LastUpdate": [n.last_update for n in self.neurons],
            "MinAllowedWeights": self.min_allowed_weights,
            "MaxWeightsLimit": self.max_weights_limit,
            "SubnetEpochConsensus": "Yuma",
            "ValidatorPermit": [n.validator_permit for n in self.neurons],
            "Tempo": self.tempo,
            "WeightsVersionKey": 0,
        }
        return values.get(storage_function)

    async def query_map(
        self,
        module: str,
        storage_function: str,
        params: list | None = None,
        block_hash: str | None = None,
    ) -> list[tuple[Any, Any]]:
        return []

    async def query_batch(
        self,
        module: str,
        storage_function: str,
        param_sets: list[list],
        block_hash: str | None = None,
    ) -> list[Any]:
        return [await self.query(module, storage_function, p, block_hash) for p in param_sets]

    async def map_has_entries(
        self, module: str, storage_function: str, params: list, block_hash: str | None = None
    ) -> bool:
        return False

    async def constant(self, module: str, name: str) -> Any:
        return None

    async def runtime_call(
        self, api: str, method: str, params: list, block_hash: str | None = None
    ) -> Any:
        if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph"):
            return self._metagraph() if params == [self.netuid] else None
        return None

    def _metagraph(self) -> dict[str, Any]:
        n = self.neurons
        return {
            "netuid": self.netuid,
            "name": "resi",
            "symbol": "ρ",
            "block": self.head,
            "tempo": self.tempo,
            "last_step": self.head - 10,
            "blocks_since_last_step": 10,
            "owner_hotkey": n[0].hotkey if n else "",
            "owner_coldkey": n[0].coldkey if n else "",
            "network_registered_at": 1,
            "num_uids": len(n),
            "max_uids": 256,
            "hotkeys": [x.hotkey for x in n],
            "coldkeys": [x.coldkey for x in n],
            "active": [True] * len(n),
            "validator_permit": [x.validator_permit for x in n],
            "last_update": [x.last_update for x in n],
            "block_at_registration": [1] * len(n),
            "alpha_stake": [x.stake_rao for x in n],
            "tao_stake": [0] * len(n),
            "total_stake": [x.stake_rao for x in n],
            "emission": [0] * len(n),
            "axons": [x.axon or {} for x in n],
        }

    # calls -------------------------------------------------------------------
    async def compose(self, call: Any) -> dict[str, Any]:
        module, function, params = call
        return {
            "call_module": module,
            "call_function": function,
            "call_args": [{"name": k, "value": v} for k, v in params.items()],
        }

    async def estimate_fee(self, call: Any, keypair: Any) -> Balance:
        return Balance.from_rao(1_000)

    async def submit(
        self,
        call: dict[str, Any],
        keypair: Any,
        *,
        nonce: int | None = None,
        period: int | None = None,
        wait_for_inclusion: bool = True,
        wait_for_finalization: bool = True,
    ) -> ExtrinsicResult:
        params = {a["name"]: a["value"] for a in call["call_args"]}
        self.submitted.append(
            Submitted(call["call_module"], call["call_function"], params, keypair.ss58_address)
        )
        if self.fail_submit_with is not None:
            return ExtrinsicResult(success=False, message=self.fail_submit_with)
        return ExtrinsicResult(success=True, message="included", block_hash="0xfeed")
