"""Turn the API's epoch inputs and downloaded files into the pure scorer's inputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from resi.api.schemas import EpochInputs
from resi.chain.base import MetagraphSnapshot
from resi.config import ScoringSettings
from resi.errors import ListingFileError
from resi.score.models import AssignmentInput, CommitInput, FileMeta, FileOutcome, Reason
from resi.scrape import listing as listing_file

# ListingFileError reasons → report reason codes (unknown reasons count as unreadable).
_FILE_REASONS = {
    listing_file.PARQUET_UNREADABLE: Reason.PARQUET_UNREADABLE,
    listing_file.SCHEMA_MISMATCH: Reason.SCHEMA_MISMATCH,
    listing_file.METADATA_MISSING: Reason.METADATA_MISMATCH,
    listing_file.SCHEMA_VERSION_UNSUPPORTED: Reason.SCHEMA_VERSION_UNSUPPORTED,
    listing_file.LIMIT_EXCEEDED: Reason.LIMIT_EXCEEDED,
    listing_file.UNSUPPORTED_VALUE: Reason.UNSUPPORTED_VALUE,
}


def read_limits(expected_listings: int, config: ScoringSettings) -> listing_file.ReadLimits:
    """The caps a file of a zipcode with ``expected_listings`` is read under."""
    from resi.score.tiers import row_cap

    return listing_file.ReadLimits(
        max_rows=row_cap(expected_listings, config),
        max_row_groups=config.max_row_groups,
        max_bytes_per_row=config.max_bytes_per_row,
        max_string_bytes=config.max_string_bytes,
    )


def assignments_of(inputs: EpochInputs) -> tuple[AssignmentInput, ...]:
    """The epoch's zipcodes as scoring inputs (with honeypot flags and centres)."""
    return tuple(
        AssignmentInput(
            zipcode=a.zipcode,
            expected_listings=a.expected_listings,
            state=a.state,
            lat=a.lat,
            lon=a.lon,
            honeypot=a.honeypot,
        )
        for a in inputs.assignments
    )


def commits_of(
    inputs: EpochInputs, coldkeys: Mapping[str, str] | None = None
) -> tuple[CommitInput, ...]:
    """The epoch's commits with the server's receive times and each hotkey's coldkey.

    ``coldkeys`` maps hotkey → coldkey (``coldkeys_of`` a metagraph); a hotkey missing from it
    gets "" (its own hotkey then stands for its operator).
    """
    known = coldkeys or {}
    return tuple(
        CommitInput(
            hotkey=c.hotkey,
            zipcode=c.zipcode,
            key=c.key,
            sha256=c.sha256,
            rows=c.rows,
            received_at=c.received_at,
            coldkey=known.get(c.hotkey, ""),
        )
        for c in inputs.commits
    )


def coldkeys_of(metagraph: MetagraphSnapshot) -> dict[str, str]:
    """hotkey → coldkey of every registered neuron (recorded with the epoch's commits)."""
    return {n.hotkey: n.coldkey for n in metagraph.neurons}


def reason_of(code: str) -> Reason:
    return _FILE_REASONS.get(code, Reason.PARQUET_UNREADABLE)


def read_outcome(
    path: Path,
    limits: listing_file.ReadLimits | None = None,
    reader: Any = None,
) -> FileOutcome:
    """Read a verified download into a ``FileOutcome`` (blocking; run it in a thread).

    With ``reader`` (a ``filecheck.FileReader``) the file is read in its capped worker process
    under ``limits``; otherwise in this process (under ``limits`` when given). Never raises for
    anything the file contains: every failure is the file's reason code.
    """
    if reader is not None and limits is not None:
        answer = reader.read(path, limits)
        if answer.get("reason"):
            return FileOutcome.failed(reason_of(answer["reason"]), answer.get("detail", ""))
        m = answer["meta"]
        return FileOutcome.ok(
            answer["table"],
            FileMeta(
                epoch_id=m["epoch_id"],
                nonce=m["nonce"],
                miner_hotkey=m["miner_hotkey"],
                zipcode=m["zipcode"],
            ),
        )
    try:
        return read_file_outcome(path, limits)
    except (MemoryError, pa.ArrowMemoryError) as exc:
        return FileOutcome.failed(Reason.LIMIT_EXCEEDED, f"out of memory reading: {exc}")


def read_file_outcome(path: Path, limits: listing_file.ReadLimits | None) -> FileOutcome:
    """``read_outcome`` in this process, except that running out of memory raises.

    ``MemoryError``/``ArrowMemoryError`` propagate, so a caller that reads several files in
    one capped process can tell the file from the company it was read in (see
    ``resi.validate.assessing``). Everything else the file contains is its reason code.
    """
    try:
        table, meta = listing_file.read_listings(path, limits)
    except ListingFileError as exc:
        return FileOutcome.failed(reason_of(exc.reason), str(exc))
    except (MemoryError, pa.ArrowMemoryError):
        raise
    except Exception as exc:  # anything else the content provokes is the file's outcome
        return FileOutcome.failed(Reason.UNSUPPORTED_VALUE, f"{type(exc).__name__}: {exc}")
    return FileOutcome.ok(
        table,
        FileMeta(
            epoch_id=meta.epoch_id,
            nonce=meta.nonce,
            miner_hotkey=meta.miner_hotkey,
            zipcode=meta.zipcode,
        ),
    )
