"""What a devnet run consists of (pure): miner behaviours, named scenarios, timing and settings.

A `DevnetPlan` is built from the command-line options and decides everything that does not need
I/O: which behaviour each miner has, which epochs are mined, and the settings each role gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resi.errors import ConfigError

HONEST = "honest"

# Every miner behaviour the devnet knows; `honest` runs the real `resi mine`.
BEHAVIOURS: tuple[str, ...] = (
    "honest",
    "honest-slow",
    "lazy",
    "padder",
    "fabricator",
    "honeypot-responder",
    "sybil",
    "late",
    "stale-replay",
    # mechanism v2 (issue 14): each ends at 0 (docs/mechanism.md)
    "stale",
    "delisted-padder",
    "mismatch-fabricator",
    "late-fabricator",
    "honeypot-avoider",
    "sybil-coldkey",
    "attacker",  # tries the storage bypasses of issue 13; commits nothing
    "hostile",
)

# Sybils copy a victim; `sybil-coldkey` also registers its hotkey under the victim's coldkey.
SYBILS: frozenset[str] = frozenset({"sybil", "sybil-coldkey"})
SAME_COLDKEY: frozenset[str] = frozenset({"sybil-coldkey"})

# Behaviours whose files pass every tier; every other one must end with weight exactly 0.
PAID_BEHAVIOURS: frozenset[str] = frozenset({"honest", "honest-slow"})
CHEATERS: frozenset[str] = frozenset(BEHAVIOURS) - PAID_BEHAVIOURS

SCENARIOS: dict[str, tuple[str, ...]] = {
    "mixed": ("honest", "honest-slow", "fabricator", "padder", "honeypot-responder", "sybil"),
    "honest": ("honest", "honest", "honest-slow"),
    "cheaters": (
        "honest",
        "lazy",
        "padder",
        "fabricator",
        "honeypot-responder",
        "sybil",
        "late",
        "stale-replay",
        "hostile",
    ),
    "all": BEHAVIOURS,
}


def behaviours_for(scenario: str, miners: int | None) -> tuple[str, ...]:
    """The behaviour of each miner: the scenario's list, cycled or cut to ``miners`` entries.

    ``scenario`` is a named scenario, one behaviour, or a comma-separated list of behaviours.

    Raises ``ConfigError`` for an unknown scenario or a miner count below 1.
    """
    parts = tuple(p.strip() for p in scenario.split(",") if p.strip())
    if scenario in SCENARIOS:
        base = SCENARIOS[scenario]
    elif parts and all(p in BEHAVIOURS for p in parts):
        base = parts  # an explicit list: "honest,padder,late"
    else:
        known = ", ".join(dict.fromkeys([*SCENARIOS, *BEHAVIOURS]))
        raise ConfigError(f"unknown scenario {scenario!r}; choose one of: {known}")
    count = len(base) if miners is None else miners
    if count < 1:
        raise ConfigError("--miners must be at least 1")
    return tuple(base[i % len(base)] for i in range(count))


# `--outlier-validator`: the setting the last validator runs with, as its ``RESI_*`` variable.
# An honest file carries about the expected number of rows (tier 1 wants at least 85%), so an
# upper bound of half the expected count makes every file the majority pays "too many rows"
# (T1_TOO_MANY) for the outlier: its winners, scores and consensus hash differ.
OUTLIER_SETTINGS: dict[str, str] = {"RESI_TIER1_MAX_RATIO": "0.5"}
# A majority needs two validators that agree beside the outlier.
MIN_VALIDATORS_WITH_OUTLIER = 3

# Behaviours aimed at another miner's files (the orchestrator hands them the victim's workdir).
VICTIM_TAKERS: frozenset[str] = SYBILS | {"attacker"}


def sybil_victims(behaviours: Sequence[str]) -> dict[int, int]:
    """For each sybil miner index, the index of the miner whose files it re-uploads.

    The victim is the first honest miner (else the first non-sybil one). Raises ``ConfigError``
    when a sybil has nobody to copy.
    """
    candidates = [i for i, b in enumerate(behaviours) if b == HONEST]
    candidates += [i for i, b in enumerate(behaviours) if b not in (*VICTIM_TAKERS, HONEST)]
    out: dict[int, int] = {}
    for i, b in enumerate(behaviours):
        if b in VICTIM_TAKERS:
            if not candidates:
                raise ConfigError("the sybil behaviour needs at least one other miner to copy")
            out[i] = candidates[0]
    return out


@dataclass(frozen=True)
class DevnetPlan:
    """Everything a devnet run needs to know before it starts anything."""

    behaviours: tuple[str, ...]
    validators: int
    epochs: int
    epoch_seconds: int
    data_dir: Path
    keep: bool
    seed: int = 7
    netuid: int = 46
    block_time: float = 1.0
    target_listings: int = 1_000
    tolerance: float = 0.2
    min_zip_listings: int = 60
    max_zip_listings: int = 300
    honeypot_share: float = 0.15
    validator_stake: float = 10_000.0
    min_validator_stake: float = 1_000.0
    weights_interval_blocks: int = 4
    weights_rate_limit_blocks: int = 2
    poll_seconds: float = 1.0
    keep_api_seconds: float = 0.0  # keep everything running this long after the run (browse)
    outlier_validator: bool = False  # the last validator runs with OUTLIER_SETTINGS

    @property
    def miner_names(self) -> tuple[str, ...]:
        return tuple(f"miner{i}-{b}" for i, b in enumerate(self.behaviours))

    @property
    def validator_names(self) -> tuple[str, ...]:
        return tuple(f"validator{i}" for i in range(self.validators))

    @property
    def outlier_name(self) -> str | None:
        """The validator that runs misconfigured (the last one), or None without the option."""
        return self.validator_names[-1] if self.outlier_validator and self.validators else None

    def validator_settings(self, name: str) -> dict[str, str]:
        """The ``RESI_*`` settings validator ``name`` gets beyond the shared ones."""
        return dict(OUTLIER_SETTINGS) if name == self.outlier_name else {}

    def api_env(self) -> dict[str, str]:
        """Settings of `resi serve-api` as ``RESI_*`` variables (small, fast epochs)."""
        return {
            "RESI_NETWORK": "devnet",
            "RESI_NETUID": str(self.netuid),
            "RESI_BLOCK_TIME": str(self.block_time),
            "RESI_EPOCH_SECONDS": str(self.epoch_seconds),
            "RESI_TARGET_LISTINGS": str(self.target_listings),
            "RESI_TOLERANCE": str(self.tolerance),
            "RESI_MIN_ZIP_LISTINGS": str(self.min_zip_listings),
            "RESI_MAX_ZIP_LISTINGS": str(self.max_zip_listings),
            # Epochs are seconds long, so a day-long cooldown would exhaust small pools quickly.
            "RESI_COOLDOWN_HOURS": "0",
            "RESI_HONEYPOT_SHARE": str(self.honeypot_share),
            # A few epochs on a small target: let the honeypot pool be reused more than mainnet.
            "RESI_HONEYPOT_MAX_REUSE": "4",
            "RESI_MIN_VALIDATOR_STAKE": str(self.min_validator_stake),
            "RESI_METAGRAPH_REFRESH_SECONDS": "2",
            "RESI_RATE_LIMIT_PER_MINUTE": "6000",
            # Devnet clocks are all the same machine; signed requests are never old.
            "RESI_AUTH_MAX_AGE": "30",
            "RESI_SECRET": f"resi-devnet-secret-{self.seed}",
            # The API loads its own hotkey, and clients sign for it (as in production).
            "RESI_REQUIRE_RECEIVER": "true",
        }

    def validate(self) -> None:
        """Raise ``ConfigError`` for option combinations that cannot run."""
        if self.validators < 1:
            raise ConfigError("--validators must be at least 1")
        if self.epochs < 1:
            raise ConfigError("--epochs must be at least 1")
        if self.epoch_seconds < 20 or 86_400 % self.epoch_seconds:
            raise ConfigError("--epoch-seconds must be at least 20 and divide 86400 (a day)")
        sybil_victims(self.behaviours)
        if self.outlier_validator:
            if self.validators < MIN_VALIDATORS_WITH_OUTLIER:
                raise ConfigError(
                    f"--outlier-validator needs --validators {MIN_VALIDATORS_WITH_OUTLIER} or "
                    f"more (got {self.validators}): two that agree make the majority the "
                    "outlier is compared with"
                )
            if not PAID_BEHAVIOURS & set(self.behaviours):
                # Without a file the majority pays, both sides burn everything and agree.
                raise ConfigError(
                    "--outlier-validator needs an honest miner (honest or honest-slow) in the "
                    "scenario: its files are what the outlier's setting judges differently"
                )
