"""Building explorer state through the real routes: commits in the store, results posted signed."""

from __future__ import annotations

import hashlib
from fractions import Fraction

from resi.api.schemas import (
    MinerZipcodeSummary,
    ResultSummary,
    SpotRowSummary,
    ZipcodeSummary,
)
from resi.epoch.models import Commit, Epoch
from resi.s3.layout import miner_key, validator_key
from resi.score.consensus import consensus_hash, decimal_string
from tests.fixtures.api import ZIPCODES, ApiServer


def make_summary(epoch: Epoch, miner: str, miner2: str) -> tuple[str, ResultSummary]:
    """A consistent (hash, summary) pair: ``miner`` wins 10001 and 60614, ``miner2`` is a liar."""
    winners = {z: ([miner] if z in ("10001", "60614") else []) for z, _ in ZIPCODES}
    scores = {miner: Fraction(1), miner2: Fraction(0)}
    digest = consensus_hash(epoch.epoch_id, epoch.nonce, scores, winners)
    spot = [
        SpotRowSummary(
            key="zpid:1001",
            status="FOUND",
            match=False,
            mismatched=["price"],
            claimed={"price": 500000, "bedrooms": 3.0},
            observed={"price": 650000, "bedrooms": 3.0, "zipcode": "10001"},
        )
    ]
    summary = ResultSummary(
        epoch_id=epoch.epoch_id,
        scores={hk: decimal_string(v) for hk, v in scores.items()},
        zipcodes={
            z: ZipcodeSummary(winners=w, validated=300 if w else 0) for z, w in winners.items()
        },
        miners={
            miner: [
                MinerZipcodeSummary(zipcode="10001", rank=1, reasons=["T3_PASS", "RANKED"]),
                MinerZipcodeSummary(zipcode="60614", rank=1, reasons=["T3_PASS", "RANKED"]),
            ],
            miner2: [
                MinerZipcodeSummary(
                    zipcode="10001", reasons=["T3_MISMATCH"], liar=False, spot=spot
                ),
                MinerZipcodeSummary(zipcode="00501", reasons=["HONEYPOT"], liar=True),
            ],
        },
    )
    return digest, summary


async def add_commits(server: ApiServer, epoch: Epoch) -> None:
    keys = server.keys
    rows = []
    for hotkey, zipcode in (
        (keys.miner.ss58_address, "10001"),
        (keys.miner.ss58_address, "60614"),
        (keys.miner2.ss58_address, "10001"),
        (keys.miner2.ss58_address, "00501"),
    ):
        digest = hashlib.sha256(f"{hotkey}{zipcode}".encode()).hexdigest()
        key = miner_key(hotkey, epoch.epoch_id, zipcode, digest)
        rows.append(Commit(epoch.epoch_id, hotkey, zipcode, key, digest, 300, 1000, epoch.start))
    await server.store.upsert_commits(rows)


async def post_summary(
    server: ApiServer, epoch: Epoch, summary: ResultSummary | None = None, digest: str = ""
) -> None:
    keys = server.keys
    if summary is None:
        digest, summary = make_summary(epoch, keys.miner.ss58_address, keys.miner2.ss58_address)
    report_key = validator_key(
        keys.validator.ss58_address, epoch.epoch_id, "validation_report.json"
    )
    async with server.client(keys.validator) as api:
        await api.post_result(epoch.epoch_id, digest, report_key, summary=summary)
