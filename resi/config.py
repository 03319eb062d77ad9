"""Typed settings for every resi role, read from flags > ``RESI_*`` env vars > TOML file > defaults.

Each role (API server, miner, validator, devnet) has one flat settings class built from shared
sections, so every field has one name everywhere: the flag ``--target-listings``, the env var
``RESI_TARGET_LISTINGS`` and the TOML key ``target_listings`` all mean the same setting.
``docs/configuration.md`` is generated from these classes (``python -m resi.config``) and a test
checks that every field is documented there.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from resi.errors import ConfigError

ENV_PREFIX = "RESI_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


# --------------------------------------------------------------------------- sections


class LoggingSettings(_Section):
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level for resi's own loggers."
    )
    log_json: bool = Field(
        False, description="Write logs as JSON lines (for daemons and log shippers)."
    )


class ChainSettings(_Section):
    network: str = Field(
        "devnet",
        description="Chain to use: `devnet` (local file-backed chain), or a bittensor network "
        "name (`finney`, `test`, `local`) or a `ws(s)://` endpoint.",
    )
    netuid: int = Field(46, ge=0, description="Subnet uid on the chain.")
    chain_timeout: float = Field(
        20.0, gt=0, description="Upper bound in seconds for any single chain call."
    )
    devnet_chain_path: Path = Field(
        Path("resi-devnet-chain.sqlite"),
        description="SQLite file of the local devnet chain (shared by all local processes).",
    )
    block_time: float = Field(
        12.0, gt=0, description="Seconds per block on the devnet chain (devnet uses faster)."
    )
    weights_rate_limit: int = Field(
        100,
        ge=0,
        description="Devnet chain: blocks a validator must wait between weight settings "
        "(a real chain enforces its own `WeightsSetRateLimit`).",
    )


class WalletSettings(_Section):
    wallet_name: str = Field("default", description="btcli wallet (coldkey) name.")
    wallet_hotkey: str = Field("default", description="Hotkey name inside the wallet.")
    wallet_path: Path = Field(
        Path("~/.bittensor/wallets"), description="Directory that holds btcli wallets."
    )


class DatabaseSettings(_Section):
    db_url: str = Field(
        "sqlite:///resi.db",
        description="Database URL: `sqlite:///path` or `postgresql://user@host:port/db`.",
    )


class S3Settings(_Section):
    s3_endpoint: str | None = Field(
        None,
        description="S3 endpoint URL (MinIO, Spaces, R2, SeaweedFS); unset means AWS S3.",
    )
    s3_bucket: str = Field("resi-data", description="Bucket that holds miner and validator files.")
    s3_region: str = Field("us-east-1", description="S3 region name used for signing.")
    s3_access_key: str | None = Field(
        None, description="S3 access key id; unset means the standard AWS env vars/profiles."
    )
    s3_secret_key: str | None = Field(
        None, description="S3 secret access key; unset means the standard AWS env vars/profiles."
    )
    s3_addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path", description="S3 addressing style (path-style works with every local server)."
    )


class EpochSettings(_Section):
    epoch_seconds: int = Field(
        14_400,
        gt=0,
        description="Epoch length in seconds; must divide a day (epochs align to UTC midnight).",
    )
    target_listings: int = Field(
        10_000, gt=0, description="Expected listings summed over an epoch's real zipcodes."
    )
    tolerance: float = Field(
        0.10, ge=0, lt=1, description="Allowed relative deviation of the sum from the target."
    )
    min_zip_listings: int = Field(
        200, ge=0, description="Smallest expected listing count of a selectable zipcode."
    )
    max_zip_listings: int = Field(
        3_000, gt=0, description="Largest expected listing count of a selectable zipcode."
    )
    cooldown_hours: float = Field(
        24.0, ge=0, description="A zipcode is not selected again within this many hours."
    )
    honeypot_share: float = Field(
        0.08, ge=0, le=0.5, description="Share of an epoch's zipcodes that are honeypots."
    )
    state_allowlist: tuple[str, ...] = Field(
        (), description="Only select zipcodes in these states (empty means all states)."
    )
    calibration_max_step: float = Field(
        0.5,
        gt=0,
        le=4,
        description="Calibration: one epoch's consensus moves a zipcode's expected count by at "
        "most this fraction of it.",
    )
    honeypot_max_reuse: float = Field(
        1.0,
        gt=0,
        description="Honeypots per epoch are capped so a honeypot zipcode is picked at most this "
        "many times as often as a real one (more would make frequent zipcodes suspect).",
    )
    honeypot_min_empty_epochs: int = Field(
        2,
        ge=1,
        description="Honeypot candidates: zipcodes whose consensus count was 0 in at least this "
        "many consecutive validated epochs.",
    )
    catalog_path: Path | None = Field(
        None,
        description="CSV of expected listings per zipcode; unset means the built-in catalog.",
    )

    @field_validator("epoch_seconds")
    @classmethod
    def _divides_day(cls, v: int) -> int:
        if 86_400 % v:
            raise ValueError("epoch_seconds must divide 86400 (a day)")
        return v

    @field_validator("state_allowlist", mode="before")
    @classmethod
    def _split_states(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(s.strip().upper() for s in v.split(",") if s.strip())
        return v


class ScoringSettings(_Section):
    """Every validator must use the same values here, or consensus hashes will differ."""

    tier1_min_ratio: float = Field(
        0.85, gt=0, le=1, description="Tier 1: rows must be at least this share of expected."
    )
    tier1_max_ratio: float | None = Field(
        None, description="Tier 1: optional upper bound on rows / expected (unset = none)."
    )
    min_completeness: float = Field(
        0.90, ge=0, le=1, description="Tier 2: required-field completeness at least this share."
    )
    min_plausible: float = Field(
        0.95, ge=0, le=1, description="Tier 2: rows with plausible values at least this share."
    )
    min_consistency: float = Field(
        0.90, ge=0, le=1, description="Tier 2: rows consistent with the assignment (share)."
    )
    max_duplicate_share: float = Field(
        0.05, ge=0, le=1, description="Tier 2: duplicate listing ids at most this share."
    )
    vicinity_km: float = Field(
        50.0, gt=0, description="Tier 2: coordinates must lie this close to the zipcode centre."
    )
    spot_min_sample: int = Field(3, ge=1, description="Tier 3: smallest spot-check sample.")
    spot_max_sample: int = Field(10, ge=1, description="Tier 3: largest spot-check sample.")
    spot_rows_per_sample: int = Field(
        10, ge=1, description="Tier 3: sample size is rows // this, clamped to [min, max]."
    )
    spot_max_draw_factor: int = Field(
        2, ge=1, description="Tier 3: at most factor × k draws when lookups are unverifiable."
    )
    spot_pass_ratio: float = Field(
        0.80, ge=0, le=1, description="Tier 3: share of sampled listings that must match."
    )
    price_tolerance: float = Field(
        0.10, ge=0, description="Tier 3: relative price difference still counted as a match."
    )
    sqft_tolerance: float = Field(
        0.05, ge=0, description="Tier 3: relative living-area difference counted as a match."
    )
    rank_shares: tuple[float, ...] = Field(
        (0.55, 0.30, 0.10), description="Share of a zipcode for rank 1, 2, 3."
    )
    participant_share: float = Field(
        0.05, ge=0, le=1, description="Share of a zipcode split among other honest participants."
    )
    unfilled_to_participants: bool = Field(
        False,
        description="Unfilled rank shares go to participants (default: they are burned).",
    )
    burn_uid: int = Field(
        0, ge=0, description="Uid that receives all weight when nobody qualifies."
    )
    spot_fabrication_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Tier 3: a sample match rate below this is fabrication (the miner is a "
        "liar); between this and `spot_pass_ratio` the file is not paid, not a liar.",
    )
    share_cap_multiple: float = Field(
        1.5,
        gt=0,
        description="A zipcode's share counts at most this multiple of its expected listings.",
    )
    # Hostile-file limits (issue 12): checked against the Parquet footer before any row is read,
    # then against the decoded data. Files over a limit get LIMIT_EXCEEDED (ineligible).
    scraped_at_skew_seconds: int = Field(
        300,
        ge=0,
        description="Clock skew allowed around the epoch window (epoch start to the commit's "
        "receive time) that every `scraped_at` must fall in; else SCRAPED_OUTSIDE_EPOCH.",
    )
    max_rows_factor: int = Field(
        4,
        ge=1,
        description="A file may hold at most this many times the zipcode's expected "
        "listings (or `max_rows_floor`, whichever is larger); else LIMIT_EXCEEDED.",
    )
    max_rows_floor: int = Field(
        2_000, ge=1, description="Row cap for zipcodes with few expected listings."
    )
    max_row_groups: int = Field(
        64, ge=1, description="Most Parquet row groups a listings file may have."
    )
    max_bytes_per_row: int = Field(
        4_096,
        ge=256,
        description="Decoded size budget per row (bytes, all columns); a file's budget is its "
        "row count times this, checked against the footer and again while decoding.",
    )
    max_string_bytes: int = Field(
        2_048, ge=64, description="Longest string value (bytes) in any column of a listings file."
    )
    read_memory_mib: int = Field(
        512,
        ge=64,
        description="Address-space cap (MiB) of the child process that reads one miner file; "
        "an allocation beyond it makes that file LIMIT_EXCEEDED instead of growing the validator.",
    )
    read_timeout_seconds: float = Field(
        120.0, gt=0, description="Longest time reading and checking one miner file may take."
    )

    @field_validator("rank_shares", mode="before")
    @classmethod
    def _split_shares(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(float(s) for s in v.split(",") if s.strip())
        return v


class SourceSettings(_Section):
    """The listing source: the miner scrapes it, the validator spot-checks against it."""

    source: Literal["sim", "zillow"] = Field(
        "zillow",
        description="Listing source: `zillow` or the simulated market `sim` (the miner scrapes "
        "it, the validator spot-checks listings against it).",
    )
    sim_url: str = Field(
        "http://127.0.0.1:8100", description="Base URL of the simulated market (source=sim)."
    )


class ScrapeSettings(SourceSettings):
    """The listing source plus the proxies a role rotates when it fetches listings from it."""

    proxies: tuple[str, ...] = Field(
        (), description="Proxy URLs rotated by the Zillow source (scraping and lookups)."
    )

    @field_validator("proxies", mode="before")
    @classmethod
    def _split_proxies(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(s.strip() for s in v.split(",") if s.strip())
        return v


class ApiAccessSettings(_Section):
    api_url: str = Field("http://127.0.0.1:8000", description="Base URL of the resi API.")
    api_hotkey: str | None = Field(
        None,
        description="The API's hotkey ss58; when set, requests are signed for it (receiver).",
    )
    http_timeout: float = Field(30.0, gt=0, description="Timeout in seconds for API calls.")


# --------------------------------------------------------------------------- roles


class ApiServerSettings(
    LoggingSettings, ChainSettings, WalletSettings, DatabaseSettings, S3Settings, EpochSettings
):
    """Settings of `resi serve-api`."""

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, ge=0, le=65_535, description="Port the API listens on.")
    secret: str | None = Field(
        None,
        description="Server secret for epoch nonces and validation seeds (required off devnet).",
    )
    metagraph_refresh_seconds: float = Field(
        60.0, gt=0, description="How often the API refreshes its metagraph snapshot."
    )
    min_validator_stake: float = Field(
        1_000.0, ge=0, description="Stake a validator needs for validator-only routes."
    )
    rate_limit_per_minute: int = Field(
        120, gt=0, description="Requests per hotkey per route per minute."
    )
    max_body_bytes: int = Field(
        1_048_576, gt=0, description="Largest request body the API accepts."
    )
    max_upload_bytes: int = Field(
        200 * 1_048_576, gt=0, description="Largest object a presigned upload may carry."
    )
    auth_max_age: float = Field(
        10.0, gt=0, description="Signed requests older than this many seconds are refused."
    )
    require_receiver: bool = Field(
        False, description="Refuse requests not signed for this API's hotkey."
    )
    max_result_summary_bytes: int = Field(
        512 * 1024,
        gt=0,
        description="Largest report summary a validator may post with its result (JSON bytes); "
        "a larger one is refused with 413.",
    )
    explorer_ttl_seconds: float = Field(
        15.0,
        gt=0,
        description="How long the explorer's rendered pages are served from cache before a "
        "rebuild (one rebuild at a time; requests never wait on it once a snapshot exists).",
    )
    owner_hotkeys: tuple[str, ...] = Field(
        (),
        description="Hotkeys (ss58, comma-separated) whose signed `resi admin` requests the API "
        "obeys (extend an epoch, pause selection); empty = no admin actions.",
    )
    max_extend_minutes: float = Field(
        240.0, gt=0, description="Longest extension one `resi admin extend-epoch` may ask for."
    )

    quorum_min_validators: int = Field(
        2,
        ge=1,
        description="An epoch reaches quorum only when at least this many validators posted "
        "the majority hash.",
    )
    quorum_min_stake_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="...and when they hold at least this share of all permitted validators' "
        "stake (from the cached metagraph).",
    )

    @field_validator("owner_hotkeys", mode="before")
    @classmethod
    def _split_owners(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(s.strip() for s in v.split(",") if s.strip())
        return v

    ip_failure_burst: int = Field(
        60,
        gt=0,
        description="Failed authentications (bad signature, replay, unregistered key) one client "
        "address may cause before its signed requests are refused unverified (429).",
    )
    ip_failures_per_minute: float = Field(
        30.0, ge=0, description="How fast an address regains failed-authentication budget."
    )
    trust_forwarded_for: bool = Field(
        False,
        description="Take the client address from the last X-Forwarded-For hop (only behind a "
        "reverse proxy that sets it).",
    )
    body_read_timeout: float = Field(
        30.0, gt=0, description="Seconds a client may take to send a request body (else 408)."
    )
    header_max_bytes: int = Field(
        8_190, gt=0, description="Longest request line or header field the API reads (else 400)."
    )
    min_upload_bytes: int = Field(
        8, ge=1, description="Smallest object an upload grant allows (a Parquet file's two magics)."
    )
    miner_upload_grant_seconds: int = Field(
        900,
        gt=0,
        description="Lifetime of a miner's one-object upload grant (never past the deadline).",
    )
    validator_upload_grant_seconds: int = Field(
        3_600, gt=0, description="Lifetime of a validator's one-report upload grant."
    )
    archive_after_epochs: int = Field(
        7,
        ge=1,
        description="A COMPLETED epoch becomes ARCHIVED this many epoch lengths after its end.",
    )
    archived_retention_epochs: int | None = Field(
        None,
        ge=1,
        description="Delete ARCHIVED epochs (assignments, commits, statuses, results) that ended "
        "more than this many epoch lengths ago (never within cooldown_hours); unset keeps all.",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="API processes sharing the port (SO_REUSEPORT); more than 1 needs PostgreSQL. "
        "Each runs as a replica (own metagraph snapshot, epoch manager, purge).",
    )


class MinerSettings(
    LoggingSettings, ChainSettings, WalletSettings, ApiAccessSettings, ScrapeSettings
):
    """Settings of `resi mine`."""

    network: str = Field(
        "finney",
        description="Chain to use, as btcli: `finney` (default), `test`, `local`, a `ws(s)://` "
        "endpoint, or `devnet` (the local file-backed chain; only when asked).",
    )
    scrape_concurrency: int = Field(8, gt=0, description="Zipcodes scraped at the same time.")
    request_delay: float = Field(
        0.0, ge=0, description="Politeness delay in seconds between requests to one host."
    )
    workdir: Path = Field(
        Path("~/.resi/miner"), description="Local state and files of the miner (resumable)."
    )
    poll_seconds: float = Field(30.0, gt=0, description="How often the miner polls the API.")
    relay_urls: tuple[str, ...] = Field(
        (),
        description="Validator assignment relays (comma-separated URLs) asked first, in turn, for "
        "the API-signed assignment while the API is unreachable.",
    )
    relay_discovery: bool = Field(
        True,
        description="While the API is unreachable, also ask the relays the chain lists (the "
        "validators' axons, highest stake first). The API's signing key is `api_hotkey`, else "
        "the one learned from the API and pinned in the workdir.",
    )

    @field_validator("relay_urls", mode="before")
    @classmethod
    def _split_relay_urls(cls, v: Any) -> Any:
        if isinstance(v, str):
            return tuple(s.strip() for s in v.split(",") if s.strip())
        return v


class ValidatorSettings(
    LoggingSettings,
    ChainSettings,
    WalletSettings,
    ApiAccessSettings,
    S3Settings,
    ScoringSettings,
    ScrapeSettings,
):
    """Settings of `resi validate`."""

    network: str = Field(
        "finney",
        description="Chain to use, as btcli: `finney` (default), `test`, `local`, a `ws(s)://` "
        "endpoint, or `devnet` (the local file-backed chain; only when asked).",
    )
    lookup_concurrency: int = Field(8, gt=0, description="Spot-check lookups at the same time.")
    weights_interval: int = Field(
        360, gt=0, description="Blocks between weight settings (about one tempo)."
    )
    workdir: Path = Field(
        Path("~/.resi/validator"), description="Checkpoints, downloads and reports (resumable)."
    )
    poll_seconds: float = Field(30.0, gt=0, description="How often the validator polls the API.")
    max_file_bytes: int = Field(
        200 * 1_048_576, gt=0, description="Largest miner file the validator downloads."
    )
    epoch_max_attempts: int = Field(
        3,
        ge=1,
        description="Attempts at validating one epoch (failures other than API/storage outages) "
        "before it is recorded as failed and the validator moves on to later epochs.",
    )
    relay_port: int = Field(
        0,
        ge=0,
        le=65_535,
        description="Port of the assignment relay that serves the API-signed assignment to "
        "registered miners while the API is down (0 = no relay).",
    )
    relay_host: str = Field("0.0.0.0", description="Address the assignment relay listens on.")
    relay_public_host: str | None = Field(
        None,
        description="Address published on chain (this hotkey's axon) so miners find the relay; "
        "unset: `relay_host` unless it is a wildcard (then nothing is published).",
    )
    epoch_seconds: int = Field(
        14_400,
        gt=0,
        description="Epoch length in seconds (the API's); measures how old the weights are "
        "while the API is unreachable.",
    )
    weights_stale_epochs: int = Field(
        3,
        ge=0,
        description="Weights come from the newest validated epoch until more than this many "
        "epochs have completed after it; then all weight goes to `burn_uid`.",
    )
    metrics_port: int = Field(
        0, ge=0, le=65_535, description="Port of the Prometheus `/metrics` endpoint (0 = off)."
    )
    metrics_host: str = Field("0.0.0.0", description="Address the `/metrics` endpoint listens on.")

    @field_validator("epoch_seconds")
    @classmethod
    def _epoch_divides_day(cls, v: int) -> int:
        if 86_400 % v:
            raise ValueError("epoch_seconds must divide 86400 (a day)")
        return v


class AdminSettings(LoggingSettings, WalletSettings, ApiAccessSettings):
    """Settings of `resi admin` (the wallet holds an owner hotkey the API is configured with)."""


class HealthSettings(
    LoggingSettings, ChainSettings, DatabaseSettings, S3Settings, ApiAccessSettings, SourceSettings
):
    """What `resi health` can check; the fields are the roles' own (same flags and env vars)."""


ROLES: dict[str, type[_Section]] = {
    "serve-api": ApiServerSettings,
    "mine": MinerSettings,
    "validate": ValidatorSettings,
}

S = TypeVar("S", bound=_Section)


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for cls in ROLES.values():
        names.update(cls.model_fields)
    return names


def load_settings(
    cls: type[S],
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> S:
    """Build ``cls`` from flags > ``RESI_*`` env vars > TOML file > defaults.

    ``flags`` holds only options the user actually gave (``None`` values are ignored).
    Raises ``ConfigError`` with one readable line for unknown keys and bad values.
    """
    env = os.environ if env is None else env
    fields = cls.model_fields
    values: dict[str, Any] = {}

    if config_file is not None:
        try:
            data = tomllib.loads(Path(config_file).expanduser().read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from None
        known_anywhere = _all_field_names()
        for key, value in data.items():
            if key not in known_anywhere:
                raise ConfigError(f"unknown setting {key!r} in {config_file}")
            if key in fields:
                values[key] = value

    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name in fields:
            values[name] = raw

    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key not in fields:
            raise ConfigError(f"unknown setting {key!r}")
        values[key] = value

    try:
        return cls(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"invalid value for {where}: {first['msg']}") from None


# Networks whose weights and money are real: an API or object store on this machine next to
# them is almost always a forgotten flag (a devnet leftover), not a deployment.
PUBLIC_NETWORKS = frozenset({"finney", "test", "archive"})


def _host_kind(url: str | None) -> str | None:
    """``"loopback"``, ``"private"`` (LAN, single-label docker names), ``"public"``, or None."""
    import ipaddress
    from urllib.parse import urlsplit

    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return "loopback"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "private" if "." not in host else "public"
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    return "private" if (ip.is_private or ip.is_link_local) else "public"


def network_mismatch(settings: BaseModel) -> str | None:
    """Why the chain and the API/S3 settings look like a mistake, naming the flag to fix; or None.

    Real network (finney/test or a non-local ``ws(s)://`` endpoint) with a loopback API or S3
    endpoint: a devnet leftover, the process would talk to nothing real. ``devnet`` with a public
    API: weights would go to a local file while the work is judged on the real subnet.
    """
    network = str(getattr(settings, "network", ""))
    given = settings.model_fields_set
    how = "" if "network" in given else " (the default)"
    api_url = getattr(settings, "api_url", None)
    s3 = getattr(settings, "s3_endpoint", None)
    real = network in PUBLIC_NETWORKS or (
        network.startswith(("ws://", "wss://")) and _host_kind(network) == "public"
    )
    if real:
        if _host_kind(api_url) == "loopback":
            return (
                f"--subtensor.network {network}{how} with a loopback API ({api_url}): give "
                "--api-url with the subnet's API, or --subtensor.network devnet for a local devnet"
            )
        if _host_kind(s3) == "loopback":
            return (
                f"--subtensor.network {network}{how} with a loopback S3 endpoint ({s3}): set "
                "s3_endpoint (--set s3_endpoint=URL or RESI_S3_ENDPOINT) to the subnet's object "
                "store, or use --subtensor.network devnet for a local devnet"
            )
    if network == "devnet" and _host_kind(api_url) == "public":
        return (
            f"--subtensor.network devnet keeps weights in a local file, but the API ({api_url}) "
            "is public: give --subtensor.network finney (or test) to take part in the real subnet"
        )
    return None


def parse_set_options(items: list[str] | None) -> dict[str, str]:
    """Turn repeated ``--set key=value`` options into a flags dict (keys may use dashes)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = value
    return out


def render_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from the settings classes."""
    lines = [
        "# Configuration reference",
        "",
        "Generated by `python -m resi.config > docs/configuration.md`; a test keeps it in sync.",
        "",
        "Every setting can be given as a flag (`--name-with-dashes`, or `--set name=value`),",
        "as an environment variable (`RESI_NAME`), or as a key in a TOML file passed with",
        "`--config`. Precedence: flag > environment > file > default.",
        "",
    ]
    for role, cls in ROLES.items():
        lines += [f"## `resi {role}`", "", "| setting | env var | default | meaning |"]
        lines += ["|---|---|---|---|"]
        for name, field in cls.model_fields.items():
            default = field.default
            if isinstance(default, tuple):
                default = ",".join(str(x) for x in default)
            lines.append(
                f"| `{name}` | `{ENV_PREFIX}{name.upper()}` | `{default}` | {field.description} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    sys.stdout.write(render_markdown())
