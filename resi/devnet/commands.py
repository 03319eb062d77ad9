"""The command line and environment of every devnet child process (pure).

Settings travel as ``RESI_*`` environment variables (the same names as the settings fields, see
``resi/config.py``), so each child reads them through its normal settings loader and the
devnet needs no flags beyond the few each command documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resi.devnet.identities import Identities, Identity, chain_path, wallet_path
from resi.devnet.plan import HONEST, DevnetPlan, sybil_victims
from resi.devnet.procs import free_port, module_argv, resi_argv

SCENARIO_MODULE = "resi.devnet.scenarios"


@dataclass(frozen=True)
class Endpoints:
    """Where the shared services listen."""

    api_port: int
    sim_port: int
    s3_endpoint: str
    s3_bucket: str
    s3_region: str
    s3_access_key: str
    s3_secret_key: str

    @classmethod
    def around(cls, s3: Any) -> Endpoints:
        """Free loopback ports for the API and the market, beside the running local S3 ``s3``."""
        return cls(
            api_port=free_port(),
            sim_port=free_port(),
            s3_endpoint=s3.endpoint,
            s3_bucket=s3.bucket,
            s3_region=s3.region,
            s3_access_key=s3.access_key,
            s3_secret_key=s3.secret_key,
        )

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: tuple[str, ...]
    env: dict[str, str]


def workdir(plan: DevnetPlan, name: str) -> Path:
    """The working directory of participant ``name`` (validator reports are read from here)."""
    return plan.data_dir / "work" / name


def api_db_url(plan: DevnetPlan) -> str:
    return f"sqlite:///{plan.data_dir / 'api.sqlite'}"


def _common_env(plan: DevnetPlan, identity: Identity) -> dict[str, str]:
    return {
        "RESI_NETWORK": "devnet",
        "RESI_NETUID": str(plan.netuid),
        "RESI_BLOCK_TIME": str(plan.block_time),
        "RESI_WEIGHTS_RATE_LIMIT": str(plan.weights_rate_limit_blocks),
        "RESI_DEVNET_CHAIN_PATH": str(chain_path(plan.data_dir)),
        "RESI_WALLET_NAME": identity.wallet.name,
        "RESI_WALLET_HOTKEY": identity.wallet.hotkey,
        "RESI_WALLET_PATH": str(wallet_path(plan.data_dir)),
    }


def _s3_env(ep: Endpoints) -> dict[str, str]:
    return {
        "RESI_S3_ENDPOINT": ep.s3_endpoint,
        "RESI_S3_BUCKET": ep.s3_bucket,
        "RESI_S3_REGION": ep.s3_region,
        "RESI_S3_ACCESS_KEY": ep.s3_access_key,
        "RESI_S3_SECRET_KEY": ep.s3_secret_key,
    }


def api_server(plan: DevnetPlan, ids: Identities, ep: Endpoints) -> ChildSpec:
    env = {**_common_env(plan, ids.api), **_s3_env(ep), **plan.api_env()}
    env["RESI_DB_URL"] = api_db_url(plan)
    env["RESI_PORT"] = str(ep.api_port)
    env["RESI_HOST"] = "127.0.0.1"
    argv = resi_argv(
        "serve-api",
        "--db",
        api_db_url(plan),
        "--s3-endpoint",
        ep.s3_endpoint,
        "--subtensor.network",
        "devnet",
        "--netuid",
        str(plan.netuid),
        "--port",
        str(ep.api_port),
    )
    return ChildSpec("api", tuple(argv), env)


def _client_env(
    plan: DevnetPlan, ids: Identities, identity: Identity, ep: Endpoints
) -> dict[str, str]:
    return {
        **_common_env(plan, identity),
        "RESI_API_URL": ep.api_url,
        "RESI_API_HOTKEY": ids.api.hotkey,
        "RESI_SOURCE": "sim",
        "RESI_SIM_URL": ep.sim_url,
        "RESI_WORKDIR": str(workdir(plan, identity.name)),
        "RESI_POLL_SECONDS": str(plan.poll_seconds),
    }


def _client_argv(
    command: str, plan: DevnetPlan, identity: Identity, ep: Endpoints
) -> tuple[str, ...]:
    """``resi mine`` / ``resi validate`` against the devnet's API and simulated market."""
    # The devnet chain is asked for explicitly: `mine`/`validate` default to finney, as btcli.
    argv = resi_argv(
        command,
        "--subtensor.network",
        "devnet",
        "--netuid",
        str(plan.netuid),
        "--source",
        "sim",
        "--sim-url",
        ep.sim_url,
        "--api-url",
        ep.api_url,
        "--workdir",
        str(workdir(plan, identity.name)),
        "--json",  # log lines, not progress bars, in the log file
    )
    return tuple(argv)


def validator(plan: DevnetPlan, ids: Identities, v: Identity, ep: Endpoints) -> ChildSpec:
    env = {**_client_env(plan, ids, v, ep), **_s3_env(ep)}
    env["RESI_WEIGHTS_INTERVAL"] = str(plan.weights_interval_blocks)
    env["RESI_BURN_UID"] = str(ids.burn.uid)
    env["RESI_EPOCH_SECONDS"] = str(plan.epoch_seconds)  # ages weights while the API is down
    # Every validator relays the signed assignment and publishes it as its axon: the miners'
    # fallback works with no relay configured anywhere.
    env["RESI_RELAY_HOST"] = "127.0.0.1"
    env["RESI_RELAY_PORT"] = str(free_port())
    # `--outlier-validator`: the last one scores with a different setting (plan.OUTLIER_SETTINGS).
    env.update(plan.validator_settings(v.name))
    return ChildSpec(v.name, _client_argv("validate", plan, v, ep), env)


def honest_miner(plan: DevnetPlan, ids: Identities, m: Identity, ep: Endpoints) -> ChildSpec:
    env = _client_env(plan, ids, m, ep)
    return ChildSpec(m.name, _client_argv("mine", plan, m, ep), env)


def scenario_spec_path(plan: DevnetPlan) -> Path:
    return plan.data_dir / "scenarios.json"


def scenario_miners(plan: DevnetPlan, ids: Identities, ep: Endpoints) -> ChildSpec | None:
    """One process that runs every non-honest miner as its own task (saves start-up time)."""
    if all(m.behaviour == HONEST for m in ids.miners):
        return None
    # Everything the scenario process needs is in its spec file (scenario_spec).
    argv = module_argv(SCENARIO_MODULE, "--spec", str(scenario_spec_path(plan)))
    return ChildSpec("scenario-miners", tuple(argv), {})


def scenario_spec(plan: DevnetPlan, ids: Identities, ep: Endpoints) -> dict[str, Any]:
    """The JSON document the scenario process reads: who runs which behaviour, and where."""
    victims = sybil_victims(plan.behaviours)
    miners = []
    for index, m in enumerate(ids.miners):
        if m.behaviour == HONEST:
            continue
        victim = ids.miners[victims[index]] if index in victims else None
        miners.append(
            {
                "name": m.name,
                "behaviour": m.behaviour,
                "wallet_name": m.wallet.name,
                "wallet_hotkey": m.wallet.hotkey,
                "workdir": str(workdir(plan, m.name)),
                "victim_workdir": str(workdir(plan, victim.name)) if victim else None,
                "victim_hotkey": victim.hotkey if victim else None,
            }
        )
    return {
        "version": 1,
        "api_url": ep.api_url,
        "api_hotkey": ids.api.hotkey,
        "sim_url": ep.sim_url,
        "wallet_path": str(wallet_path(plan.data_dir)),
        "poll_seconds": plan.poll_seconds,
        "seed": plan.seed,
        "miners": miners,
    }
