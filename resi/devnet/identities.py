"""Devnet identities: wallets for every participant and their registration on the devnet chain.

Uid order is fixed so tables are easy to read: uid 0 is the subnet owner's burn hotkey, uid 1
the API operator, then the validators (permit and stake), then the miners.
Blocking (wallet files, SQLite): call through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from resi.chain.devnet import DevnetChain
from resi.devnet.plan import SAME_COLDKEY, DevnetPlan, sybil_victims
from resi.wallet import WalletInfo, create_wallet, hotkey_file


@dataclass(frozen=True)
class Identity:
    """One registered participant: its role, wallet and uid."""

    role: str  # burn / api / validator / miner
    name: str  # wallet name, also the label in tables
    behaviour: str  # miner behaviour; the role for others
    uid: int
    wallet: WalletInfo

    @property
    def hotkey(self) -> str:
        return self.wallet.hotkey_ss58


@dataclass(frozen=True)
class Identities:
    burn: Identity
    api: Identity
    validators: tuple[Identity, ...]
    miners: tuple[Identity, ...]

    @property
    def all(self) -> tuple[Identity, ...]:
        return (self.burn, self.api, *self.validators, *self.miners)

    def by_hotkey(self) -> dict[str, Identity]:
        return {i.hotkey: i for i in self.all}


def chain_path(data_dir: Path) -> Path:
    return data_dir / "chain.sqlite"


def wallet_path(data_dir: Path) -> Path:
    return data_dir / "wallets"


def open_devnet_chain(plan: DevnetPlan, signer_hotkey: str | None = None) -> DevnetChain:
    """The devnet chain file of this run (shared with every child process)."""
    return DevnetChain(
        chain_path(plan.data_dir),
        netuid=plan.netuid,
        block_time=plan.block_time,
        signer_hotkey=signer_hotkey,
    )


def create_identities(plan: DevnetPlan) -> Identities:
    """Create the wallets (no prompts) and register them in uid order; returns who is who.

    Raises ``WalletError`` / ``ChainError``.
    """
    chain = open_devnet_chain(plan)
    root = wallet_path(plan.data_dir)

    def make(role: str, name: str, behaviour: str, stake: float, permit: bool) -> Identity:
        info = create_wallet(name, "default", root, overwrite=True)
        uid = chain.register(info.hotkey_ss58, info.coldkey_ss58, stake, permit)
        return Identity(role, name, behaviour, uid, info)

    def make_under(owner: Identity, name: str, behaviour: str) -> Identity:
        # A second hotkey of ``owner``'s wallet: registered under the same coldkey.
        hotkey_file(owner.wallet.name, name, root).unlink(missing_ok=True)  # a kept data dir
        info = create_wallet(owner.wallet.name, name, root, overwrite=False)
        uid = chain.register(info.hotkey_ss58, info.coldkey_ss58, 0.0, False)
        return Identity("miner", name, behaviour, uid, info)

    burn = make("burn", "owner", "burn", 0.0, False)
    api = make("api", "api", "api", 0.0, False)
    validators = tuple(
        make("validator", name, "validator", plan.validator_stake, True)
        for name in plan.validator_names
    )
    pairs = list(zip(plan.miner_names, plan.behaviours, strict=True))
    made: dict[int, Identity] = {
        i: make("miner", name, behaviour, 0.0, False)
        for i, (name, behaviour) in enumerate(pairs)
        if behaviour not in SAME_COLDKEY
    }
    # Same-coldkey sybils last: their victim's wallet (and coldkey) must exist first.
    victims = sybil_victims(plan.behaviours)
    for i, (name, behaviour) in enumerate(pairs):
        if behaviour in SAME_COLDKEY:
            made[i] = make_under(made[victims[i]], name, behaviour)
    miners = tuple(made[i] for i in range(len(pairs)))
    return Identities(burn, api, validators, miners)
