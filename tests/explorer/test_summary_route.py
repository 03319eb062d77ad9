"""Posting a report summary with a result: stored when it matches the hash, refused otherwise."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest

from resi.api.schemas import ResultSummary
from resi.errors import ApiError
from resi.s3.layout import validator_key
from resi.score.consensus import consensus_hash
from tests.explorer.helpers import make_summary, post_summary
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio


def _summary(server: ApiServer) -> tuple[str, ResultSummary]:
    keys = server.keys
    return make_summary(server.epochs.completed, keys.miner.ss58_address, keys.miner2.ss58_address)


async def test_matching_summary_is_stored(api_server: ApiServer) -> None:
    digest, summary = _summary(api_server)
    await post_summary(api_server, api_server.epochs.completed, summary, digest)
    rows = await api_server.store.result_summaries(api_server.epochs.completed.epoch_id)
    assert [r.validator_hotkey for r in rows] == [api_server.keys.validator.ss58_address]
    assert ResultSummary.model_validate_json(rows[0].summary_json) == summary


async def test_summary_inflating_own_score_is_refused(api_server: ApiServer) -> None:
    """Attack: post a true hash with a summary that pays a different miner (explorer lie)."""
    digest, summary = _summary(api_server)
    miner, miner2 = api_server.keys.miner.ss58_address, api_server.keys.miner2.ss58_address
    forged = summary.model_copy(update={"scores": {miner: "0.000000000", miner2: "1.000000000"}})
    with pytest.raises(ApiError) as err:
        await post_summary(api_server, api_server.epochs.completed, forged, digest)
    assert (err.value.status, err.value.code) == (422, "SUMMARY_MISMATCH")
    assert await api_server.store.result_summaries(api_server.epochs.completed.epoch_id) == []
    # nor is the result itself recorded from a refused post
    assert await api_server.store.validator_results(api_server.epochs.completed.epoch_id) == []


async def test_summary_of_another_epoch_is_refused(api_server: ApiServer) -> None:
    digest, summary = _summary(api_server)
    other = summary.model_copy(update={"epoch_id": api_server.epochs.active.epoch_id})
    with pytest.raises(ApiError) as err:
        await post_summary(api_server, api_server.epochs.completed, other, digest)
    assert (err.value.status, err.value.code) == (422, "SUMMARY_MISMATCH")


async def test_summary_nonce_is_the_stored_one(api_server: ApiServer) -> None:
    """A hash computed with a made-up nonce does not match the recomputation."""
    _, summary = _summary(api_server)
    epoch = api_server.epochs.completed
    scores = {k: Fraction(v) for k, v in summary.scores.items()}
    winners = {z: s.winners for z, s in summary.zipcodes.items()}
    wrong = consensus_hash(epoch.epoch_id, "0" * 32, scores, winners)
    with pytest.raises(ApiError) as err:
        await post_summary(api_server, epoch, summary, wrong)
    assert err.value.code == "SUMMARY_MISMATCH"


async def test_oversized_summary_is_refused_with_413(
    db_url: str, api_factory: Callable[..., Any]
) -> None:
    async with api_factory(db_url, max_result_summary_bytes=200) as server:
        digest, summary = _summary(server)
        with pytest.raises(ApiError) as err:
            await post_summary(server, server.epochs.completed, summary, digest)
        assert (err.value.status, err.value.code) == (413, "SUMMARY_TOO_LARGE")
        assert await server.store.result_summaries(server.epochs.completed.epoch_id) == []


async def test_result_without_summary_still_accepted(api_server: ApiServer) -> None:
    digest, _ = _summary(api_server)
    epoch = api_server.epochs.completed
    async with api_server.client(api_server.keys.validator) as api:
        key = validator_key(
            api_server.keys.validator.ss58_address, epoch.epoch_id, "validation_report.json"
        )
        receipt = await api.post_result(epoch.epoch_id, digest, key)
    assert receipt.consensus_hash == digest
    assert await api_server.store.result_summaries(epoch.epoch_id) == []
