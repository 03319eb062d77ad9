"""The validator's file path (Parquet on disk, checkpoint, read-ahead) scores exactly as the pure
scorer over the same files: same consensus hash, same winners and liars; a resumed run too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from resi.config import ScoringSettings, ValidatorSettings
from resi.score import EpochRecord, Lookup, LookupStatus, validate_epoch
from resi.validate.checkpoint import CHECKPOINT_NAME
from resi.validate.inputs import assignments_of, commits_of, read_outcome
from resi.validate.lookups import observed_from
from resi.validate.loop import Validator
from resi.validate.synthetic import MarketSource, SyntheticEpoch, write_epoch


def _reference(epoch: SyntheticEpoch) -> Any:
    """Today's pure path: read every file, assess and walk in memory, answer lookups directly."""
    inputs = epoch.inputs
    record = EpochRecord(
        inputs.epoch_id,
        inputs.nonce,
        inputs.validation_seed,
        assignments_of(inputs),
        commits_of(inputs),
        {k: read_outcome(p) for k, p in epoch.paths.items()},
    )
    lookups: dict[str, Lookup] = {}
    config = ScoringSettings()
    while True:
        result = validate_epoch(record, lookups, config)
        if result.complete:
            return result
        for req in result.pending_lookups:
            found = epoch.market.get(req.claimed["listing_id"])
            lookups[req.key] = (
                Lookup(LookupStatus.FOUND, observed_from(found))
                if found is not None
                else Lookup(LookupStatus.GONE, detail="source says the listing does not exist")
            )


def _validator(workdir: Path, source: MarketSource, http: httpx.AsyncClient) -> Validator:
    settings = ValidatorSettings(network="devnet", source="sim", workdir=workdir)
    return Validator(None, None, source, "5Validator", workdir, settings, http)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def epoch(tmp_path_factory: pytest.TempPathFactory) -> SyntheticEpoch:
    return write_epoch(tmp_path_factory.mktemp("files"), miners=6, zipcodes=3, rows=40)


@pytest.mark.anyio
async def test_file_path_matches_pure_scorer(epoch: SyntheticEpoch, tmp_path: Path) -> None:
    expected = _reference(epoch)
    assert "5Miner0001" in expected.liars  # the padder was caught: tier 3 really ran
    source = MarketSource(epoch.market)
    async with httpx.AsyncClient() as http:
        scored = await _validator(tmp_path, source, http).score_local(epoch.inputs, epoch.paths)
    assert scored.result.consensus_hash == expected.consensus_hash
    assert scored.result.winners == expected.winners
    assert scored.result.liars == expected.liars
    assert source.lookups > 0


@pytest.mark.anyio
async def test_resume_from_a_partial_checkpoint_reproduces_the_hash(
    epoch: SyntheticEpoch, tmp_path: Path
) -> None:
    """Killed after one zipcode (torn line included): the rerun reassesses the rest only."""
    source = MarketSource(epoch.market)
    async with httpx.AsyncClient() as http:
        full = await _validator(tmp_path, source, http).score_local(epoch.inputs, epoch.paths)
        ckpt = tmp_path / "epochs" / epoch.inputs.epoch_id / CHECKPOINT_NAME
        lines = ckpt.read_bytes().split(b"\n")
        first_assessment = next(i for i, ln in enumerate(lines) if b'"assessment"' in ln)
        ckpt.write_bytes(b"\n".join(lines[: first_assessment + 1]) + b"\n" + lines[-2][:20])
        again = MarketSource(epoch.market)
        resumed = await _validator(tmp_path, again, http).score_local(epoch.inputs, epoch.paths)
        # a complete checkpoint: nothing looked up again, same answer
        done = MarketSource(epoch.market)
        third = await _validator(tmp_path, done, http).score_local(epoch.inputs, epoch.paths)
    assert resumed.result.consensus_hash == full.result.consensus_hash
    assert third.result.consensus_hash == full.result.consensus_hash
    assert done.lookups == 0
