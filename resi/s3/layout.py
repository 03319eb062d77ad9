"""Object key layout of the resi bucket (DESIGN §6): build, parse and check keys; pure, no I/O.

    data/hotkey={hotkey}/epoch={epoch_id}/{zipcode}-{sha256}.parquet            miner data
    validators/hotkey={hotkey}/epoch={epoch_id}/validated_data.parquet         validated listings
    validators/hotkey={hotkey}/epoch={epoch_id}/_reports/{name}.json            reports (JSON)

The layout reads as a hive dataset in default pyarrow, pandas and DuckDB with no schema
arguments (docs/data.md): the only partition folders are ``hotkey=`` and ``epoch=``, whose values
are never numeric and clash with no column of the files; ``zipcode`` stays the files' own text
column (a ``zipcode=04011`` folder would be inferred as an integer and clash with it). JSON
outputs sit under ``_reports/``, which pyarrow and pandas skip (``_`` prefix) when reading a
folder, so a directory read sees Parquet files only.

Every value placed in a key is validated against its format first, so a hostile hotkey, epoch id
or zipcode (``..``, ``/``, ``=``, whitespace, empty) can never move a key out of its prefix.
Violations raise ``KeyLayoutError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from resi.errors import KeyLayoutError

_BASE58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_HOTKEY_RE: Final = re.compile(rf"[{_BASE58}]{{46,48}}")
_EPOCH_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}")
_ZIPCODE_RE: Final = re.compile(r"[0-9]{5}")
_SHA256_RE: Final = re.compile(r"[0-9a-f]{64}")

MINER_ROOT: Final = "data/"
VALIDATOR_ROOT: Final = "validators/"
VALIDATOR_FILES: Final = frozenset(
    {"validated_data.parquet", "validation_report.json", "epoch_metadata.json"}
)

# Validator outputs that are not Parquet live in this sub-folder of the validator's prefix.
REPORTS_DIR: Final = "_reports/"

_MINER_KEY_RE: Final = re.compile(
    r"data/hotkey=(?P<hotkey>[^/]*)/epoch=(?P<epoch>[^/]*)/(?P<zipcode>[^/-]*)"
    r"-(?P<sha256>[^/]*)\.parquet"
)
_VALIDATOR_KEY_RE: Final = re.compile(
    r"validators/hotkey=(?P<hotkey>[^/]*)/epoch=(?P<epoch>[^/]*)/(?P<dir>_reports/)?"
    r"(?P<name>[^/]*)"
)


@dataclass(frozen=True, slots=True)
class MinerKey:
    """The parts of a miner data key."""

    hotkey: str
    epoch_id: str
    zipcode: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ValidatorKey:
    """The parts of a validator output key."""

    hotkey: str
    epoch_id: str
    name: str


# --------------------------------------------------------------------------- components


def _check(value: object, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise KeyLayoutError(f"invalid {what} for an object key: {value!r}")
    return value


def check_hotkey(hotkey: str) -> str:
    """Return ``hotkey`` if it looks like an ss58 address (base58, 46–48 chars); else raise."""
    return _check(hotkey, _HOTKEY_RE, "hotkey")


def check_epoch_id(epoch_id: str) -> str:
    """Return ``epoch_id`` if it has the form ``YYYY-MM-DDTHH-MM-SS``; else raise."""
    return _check(epoch_id, _EPOCH_RE, "epoch id")


def check_zipcode(zipcode: str) -> str:
    """Return ``zipcode`` if it is five digits; else raise ``KeyLayoutError``."""
    return _check(zipcode, _ZIPCODE_RE, "zipcode")


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits; else raise ``KeyLayoutError``."""
    return _check(sha256, _SHA256_RE, "sha256")


def check_validator_file(name: str) -> str:
    """Return ``name`` if it is one of ``VALIDATOR_FILES``; else raise ``KeyLayoutError``."""
    if name not in VALIDATOR_FILES:
        raise KeyLayoutError(f"invalid validator file name for an object key: {name!r}")
    return name


# --------------------------------------------------------------------------- miner keys


def miner_prefix(hotkey: str, epoch_id: str) -> str:
    """The prefix a miner may upload under for one epoch (ends with ``/``)."""
    return f"data/hotkey={check_hotkey(hotkey)}/epoch={check_epoch_id(epoch_id)}/"


def miner_key(hotkey: str, epoch_id: str, zipcode: str, sha256: str) -> str:
    """The key of one miner file: ``{miner_prefix}{zipcode}-{sha256}.parquet``."""
    return (
        f"{miner_prefix(hotkey, epoch_id)}{check_zipcode(zipcode)}-{check_sha256(sha256)}.parquet"
    )


def parse_miner_key(key: str) -> MinerKey:
    """Split a miner data key into its parts; raise ``KeyLayoutError`` if it is not one."""
    m = _MINER_KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if m is None:
        raise KeyLayoutError(f"not a miner data key: {key!r}")
    return MinerKey(
        hotkey=check_hotkey(m["hotkey"]),
        epoch_id=check_epoch_id(m["epoch"]),
        zipcode=check_zipcode(m["zipcode"]),
        sha256=check_sha256(m["sha256"]),
    )


# --------------------------------------------------------------------------- validator keys


def validator_prefix(hotkey: str, epoch_id: str) -> str:
    """The prefix a validator may upload its epoch outputs under (ends with ``/``)."""
    return f"validators/hotkey={check_hotkey(hotkey)}/epoch={check_epoch_id(epoch_id)}/"


def validator_key(hotkey: str, epoch_id: str, name: str) -> str:
    """The key of one validator output file; ``name`` must be one of ``VALIDATOR_FILES``.

    Parquet outputs sit directly under the prefix, the others under ``_reports/``.
    """
    prefix = validator_prefix(hotkey, epoch_id)
    return f"{prefix}{_validator_subdir(check_validator_file(name))}{name}"


def _validator_subdir(name: str) -> str:
    return "" if name.endswith(".parquet") else REPORTS_DIR


def parse_validator_key(key: str) -> ValidatorKey:
    """Split a validator output key into its parts; raise ``KeyLayoutError`` if it is not one."""
    m = _VALIDATOR_KEY_RE.fullmatch(key) if isinstance(key, str) else None
    if m is None:
        raise KeyLayoutError(f"not a validator output key: {key!r}")
    name = check_validator_file(m["name"])
    if (m["dir"] or "") != _validator_subdir(name):
        raise KeyLayoutError(f"not a validator output key: {key!r}")
    return ValidatorKey(
        hotkey=check_hotkey(m["hotkey"]), epoch_id=check_epoch_id(m["epoch"]), name=name
    )


# --------------------------------------------------------------------------- prefix checks


def _is_safe_key(key: str) -> bool:
    # S3 keys are opaque strings, but other tools (pyarrow datasets, local mirrors) treat them as
    # paths, so refuse anything a path resolver could reinterpret.
    if not key or key.startswith("/") or "//" in key or "\\" in key:
        return False
    if any(part in (".", "..") for part in key.split("/")):
        return False
    return not any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key)


def is_in_prefix(key: str, prefix: str) -> bool:
    """True if ``key`` is a well-formed key strictly inside ``prefix`` (which ends with ``/``).

    Refuses ``..``/``.`` segments, double or leading slashes, backslashes, whitespace and control
    characters in either argument, so string-prefix checks cannot be fooled by path tricks.
    """
    if not isinstance(key, str) or not isinstance(prefix, str):
        return False
    if not prefix.endswith("/") or not _is_safe_key(prefix) or not _is_safe_key(key):
        return False
    return key.startswith(prefix) and len(key) > len(prefix) and not key.endswith("/")


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe, non-empty key prefix ending with ``/``; else raise."""
    if not isinstance(prefix, str) or not prefix.endswith("/") or not _is_safe_key(prefix):
        raise KeyLayoutError(f"invalid key prefix: {prefix!r}")
    return prefix


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe object key (no path tricks, not a folder); else raise."""
    if not isinstance(key, str) or key.endswith("/") or not _is_safe_key(key):
        raise KeyLayoutError(f"invalid object key: {key!r}")
    return key
