"""The validator's decisions for a fixed epoch are pinned: a speed-up must not move them.

The hash and the decisions digest below were produced by the code BEFORE the issue-17 "validator
at its floor" changes (main at 57b6bd8), over the synthetic epoch built here. Commit sha256s are
replaced by fixed strings (``score_local`` trusts the commits), so the spot-check seeds and hence
the pinned values do not depend on the bytes a given pyarrow version writes. Some lookups are
unparseable (UNVERIFIABLE), so tier 3 also walks past the first k draws.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import httpx
import pytest

from resi.config import ValidatorSettings
from resi.errors import ParseError
from resi.scrape.listing import Listing
from resi.validate.loop import Validator
from resi.validate.synthetic import MarketSource, write_epoch

PINNED_HASH = "604169ed04479a97a076939893d136838c83fb367ab745f43949edd8d8a8e75c"
PINNED_DECISIONS = "5350347e65fdcbf5e7cc6849bedd434a4c117e7a72395fd64d7c0559861e32a6"


class _FlakyMarket(MarketSource):
    """The market, except that listings whose id ends in 3 come back as unparseable pages."""

    async def lookup(self, listing: Listing) -> Listing | None:
        if listing.listing_id.endswith("3"):
            self.lookups += 1
            raise ParseError("unparseable page")
        return await super().lookup(listing)


def _decisions_digest(result: object) -> str:
    rows = []
    for d in result.decisions:  # type: ignore[attr-defined]
        spot = d.spot
        rows.append(
            [
                d.zipcode,
                d.hotkey,
                d.position,
                [r.value for r in d.reasons],
                d.rank,
                d.participant,
                d.liar,
                None
                if spot is None
                else [
                    spot.reason.value,
                    spot.k,
                    spot.draws,
                    spot.verified,
                    spot.matched,
                    [
                        [
                            e.index,
                            e.key,
                            e.status.value,
                            e.match,
                            list(e.mismatched),
                            dict(e.claimed),
                        ]
                        for e in spot.evidence
                    ],
                ],
            ]
        )
    counts = sorted(result.validated_counts.items())  # type: ignore[attr-defined]
    text = json.dumps([rows, counts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.anyio
async def test_fixed_epoch_scores_as_before_the_floor_work(tmp_path: Path) -> None:
    epoch = write_epoch(tmp_path / "files", miners=8, zipcodes=3, rows=60)
    commits = [
        c.model_copy(
            update={"sha256": hashlib.sha256(f"{c.hotkey}:{c.zipcode}".encode()).hexdigest()}
        )
        for c in epoch.inputs.commits
    ]
    inputs = epoch.inputs.model_copy(update={"commits": commits})
    source = _FlakyMarket(epoch.market)
    work = tmp_path / "work"
    settings = ValidatorSettings(network="devnet", source="sim", workdir=work)
    async with httpx.AsyncClient() as http:
        v = Validator(None, None, source, "5V", work, settings, http)  # type: ignore[arg-type]
        scored = await v.score_local(inputs, epoch.paths)
    result = scored.result
    assert "5Miner0001" in result.liars  # the padder was caught
    assert any(
        e.status.value == "UNVERIFIABLE"
        for d in result.decisions
        if d.spot
        for e in d.spot.evidence
    )
    assert (result.consensus_hash, _decisions_digest(result)) == (PINNED_HASH, PINNED_DECISIONS)
