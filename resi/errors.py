"""The one exception tree of resi; foreign errors are translated into it at the boundaries.

    ResiError                      root: anything resi raises on purpose
    ├── ConfigError                bad setting, unknown key, unreadable config file
    ├── WalletError                key file missing, encrypted without a password source
    ├── ChainError                 chain unreachable, timed out, or refused an extrinsic
    │   └── ChainTimeout           a chain call exceeded its configured bound
    ├── StoreError                 database unreachable or a query failed
    │   └── SchemaVersionError     the database schema is newer than this code
    ├── EpochError                 clock / selection / catalog problems
    │   └── CatalogImportError     a catalog file is malformed (carries line numbers)
    ├── StorageError               object store (S3) problems
    │   ├── IntegrityError         downloaded bytes do not match the expected sha256 / size
    │   ├── KeyLayoutError         a key or key component does not match the layout
    │   └── TransferUnavailable    transient: store unreachable, 5xx/429 after retries
    ├── SourceError                listing source problems
    │   ├── SourceUnavailable      transient: timeout, 429, 5xx, block page (retry later)
    │   │   └── SourceOutage       every lookup of a spot-check batch failed that way
    │   └── ParseError             the page could not be parsed
    ├── ListingFileError           unreadable / wrong-schema Parquet (carries a reason code)
    ├── ApiError                   HTTP error with a status and a machine code
    │   └── ApiUnavailable         transient: API unreachable, or 5xx/429 after retries
    ├── ScoreError                 scoring inputs are inconsistent
    ├── SignatureError             a signed document does not verify (tampered / wrong signer)
    └── DevnetError                a devnet part failed to start or died (carries its log path)

Every error carries a human message. ``ApiError`` also carries ``status`` and ``code`` and is
rendered to ``{"error": code, "message": message}`` by the API's error middleware; nothing else
(no exception text, no stack trace) ever reaches an HTTP client.
"""

from __future__ import annotations


class ResiError(Exception):
    """Root of every error resi raises on purpose."""


class ConfigError(ResiError):
    """A setting is unknown, malformed or out of range."""


class WalletError(ResiError):
    """A wallet key cannot be loaded without prompting."""


class ChainError(ResiError):
    """The chain is unreachable or refused a call."""


class ChainTimeout(ChainError):
    """A chain call did not finish within its configured bound."""


class StoreError(ResiError):
    """The database is unreachable or a query failed."""


class SchemaVersionError(StoreError):
    """The database schema is newer than this version of resi understands."""


class EpochError(ResiError):
    """Epoch clock, selection or catalog problem."""


class CatalogImportError(EpochError):
    """A catalog file is malformed; ``problems`` lists ``(line_number, message)`` pairs."""

    def __init__(self, message: str, problems: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StorageError(ResiError):
    """The object store is unreachable or refused an operation."""


class IntegrityError(StorageError):
    """Downloaded bytes do not match the expected hash or size."""


class KeyLayoutError(StorageError):
    """An object key, or a value placed in one, does not match the key layout."""


class TransferUnavailable(StorageError):
    """Transient object-store failure (unreachable, 5xx, 429) that outlasted the retries.

    Validators treat this as "unverified, try later", never as a lie by the miner.
    """


class SourceError(ResiError):
    """A listing source failed."""


class SourceUnavailable(SourceError):
    """Transient listing-source failure (timeout, 429, 5xx, block page): retry later."""


class SourceOutage(SourceUnavailable):
    """The listing site is down for this validator: the epoch's validation waits for it."""


class ParseError(SourceError):
    """A listing page could not be parsed."""


class ListingFileError(ResiError):
    """A listings Parquet file cannot be used; ``reason`` is a report reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ApiError(ResiError):
    """An HTTP-level error: ``status`` (int), ``code`` (machine-readable) and a message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_json(self) -> dict[str, str]:
        """The JSON body the API sends for this error."""
        return {"error": self.code, "message": self.message}


class ApiUnavailable(ApiError):
    """Transient: the API is unreachable or kept failing (status 0 or 5xx/429); retry later."""


class ScoreError(ResiError):
    """Scoring inputs are inconsistent."""


class SignatureError(ResiError):
    """A signed document (e.g. a relayed assignment) is tampered or signed by an unexpected key."""


class DevnetError(ResiError):
    """A devnet part failed to start or exited early; ``log_path`` points at its log, if any."""

    def __init__(self, message: str, log_path: str | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path
