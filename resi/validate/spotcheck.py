"""Re-run tier 3 for one submission (``resi spot-check``): same seed, same draws, fresh lookups."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import anyio

from resi.errors import ScoreError
from resi.score.models import FileAssessment, Lookup, SpotResult
from resi.score.spot import run_spot
from resi.score.tiers import assess_file
from resi.validate.inputs import assignments_of, commits_of, read_outcome
from resi.validate.lookups import fetch_lookups
from resi.validate.loop import OK, Validator


@dataclass(frozen=True)
class SpotCheck:
    """The file's cheap-check assessment and, when those passed, the tier-3 result."""

    epoch_id: str
    hotkey: str
    zipcode: str
    assessment: FileAssessment
    spot: SpotResult | None


async def spot_check(validator: Validator, epoch_id: str, hotkey: str, zipcode: str) -> SpotCheck:
    """Download ``hotkey``'s file for ``zipcode`` and re-run its seeded spot check.

    Raises ``ScoreError`` when the miner made no such commit.
    """
    inputs = await validator.client.epoch_inputs(epoch_id)
    wire = next((c for c in inputs.commits if c.hotkey == hotkey and c.zipcode == zipcode), None)
    if wire is None:
        raise ScoreError(f"{hotkey} committed nothing for zipcode {zipcode} in epoch {epoch_id}")
    commit = next(c for c in commits_of(inputs) if c.hotkey == hotkey and c.zipcode == zipcode)
    assignment = next(a for a in assignments_of(inputs) if a.zipcode == zipcode)
    with tempfile.TemporaryDirectory(prefix="resi-spot-") as tmp:
        dest = Path(tmp) / "file.parquet"
        status = await validator._download(wire, dest)
        if status == OK:
            outcome = await anyio.to_thread.run_sync(read_outcome, dest)
        else:
            from resi.score.models import FileOutcome, Reason

            outcome = FileOutcome.failed(Reason(status))
    assessment = assess_file(
        commit,
        assignment,
        outcome,
        epoch_id=inputs.epoch_id,
        nonce=inputs.nonce,
        validation_seed=inputs.validation_seed,
        config=validator.scoring,
    )
    if not assessment.passed_cheap:
        return SpotCheck(epoch_id, hotkey, zipcode, assessment, None)
    lookups: dict[str, Lookup] = {}
    for _ in range(assessment.k * validator.settings.spot_max_draw_factor + 1):
        result = run_spot(assessment, lookups, validator.scoring)
        if isinstance(result, SpotResult):
            return SpotCheck(epoch_id, hotkey, zipcode, assessment, result)
        await fetch_lookups(
            validator.source,
            result,
            lookups,
            concurrency=validator.settings.lookup_concurrency,
            backoff=validator.lookup_backoff,
        )
    raise ScoreError("spot check did not settle")
