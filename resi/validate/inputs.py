"""Turn the API's epoch inputs and downloaded files into the pure scorer's inputs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from resi.api.schemas import EpochInputs
from resi.chain.base import MetagraphSnapshot
from resi.errors import ListingFileError
from resi.score.models import AssignmentInput, CommitInput, FileMeta, FileOutcome, Reason
from resi.scrape import listing as listing_file

# ListingFileError reasons → report reason codes (unknown reasons count as unreadable).
_FILE_REASONS = {
    listing_file.PARQUET_UNREADABLE: Reason.PARQUET_UNREADABLE,
    listing_file.SCHEMA_MISMATCH: Reason.SCHEMA_MISMATCH,
    listing_file.METADATA_MISSING: Reason.METADATA_MISMATCH,
    listing_file.SCHEMA_VERSION_UNSUPPORTED: Reason.SCHEMA_VERSION_UNSUPPORTED,
}


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


def read_outcome(path: Path) -> FileOutcome:
    """Read a verified download into a ``FileOutcome`` (blocking; run it in a thread)."""
    try:
        table, meta = listing_file.read_listings(path)
    except ListingFileError as exc:
        return FileOutcome.failed(
            _FILE_REASONS.get(exc.reason, Reason.PARQUET_UNREADABLE), str(exc)
        )
    return FileOutcome.ok(
        table,
        FileMeta(
            epoch_id=meta.epoch_id,
            nonce=meta.nonce,
            miner_hotkey=meta.miner_hotkey,
            zipcode=meta.zipcode,
        ),
    )
