"""Validators' per-zipcode counts on the result route, and the consensus the API keeps of them
(SQLite and PostgreSQL): stored with the caller's stake, refused whole when malformed, and
folded into a stake-weighted median that one validator cannot swing (issue 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from resi.api.schemas import ZipcodeCount
from resi.epoch.manager import EpochManager
from resi.errors import ApiError
from resi.s3.layout import validator_key
from tests.fixtures.api import MIN_VALIDATOR_STAKE, TEST_SECRET, VALIDATOR_STAKE, ApiServer

pytestmark = pytest.mark.anyio


def _counts(**counts: int) -> list[ZipcodeCount]:
    return [ZipcodeCount(zipcode=z.removeprefix("z"), validated_count=n) for z, n in counts.items()]


async def test_counts_are_stored_with_stake_and_malformed_ones_refused(
    api_server: ApiServer,
) -> None:
    server = api_server
    done = server.epochs.completed
    hotkey = server.keys.validator.ss58_address
    report = validator_key(hotkey, done.epoch_id, "validation_report.json")
    async with server.client(server.keys.validator) as api:
        await api.post_result(
            done.epoch_id, "a" * 64, report, zipcode_counts=_counts(z10001=420, z00501=0)
        )
        stored = await server.store.zipcode_reports(done.epoch_id)
        assert [(r.zipcode, r.count, r.stake) for r in stored] == [
            ("00501", 0, VALIDATOR_STAKE),
            ("10001", 420, VALIDATOR_STAKE),
        ]
        # A zipcode outside the epoch, or one reported twice: 422, and nothing changes.
        for bad in (_counts(z12345=5), [*_counts(z10001=1), *_counts(z10001=2)]):
            with pytest.raises(ApiError) as err:
                await api.post_result(done.epoch_id, "b" * 64, report, zipcode_counts=bad)
            assert (err.value.status, err.value.code) == (422, "INVALID_ZIPCODE_COUNTS")
        assert await server.store.zipcode_reports(done.epoch_id) == stored
        assert (await server.store.validator_results(done.epoch_id))[0].consensus_hash == "a" * 64
        # A result without counts (an older validator) is still accepted; the new result
        # replaces this validator's earlier reports as a whole.
        await api.post_result(done.epoch_id, "c" * 64, report, zipcode_counts=_counts(z60614=7))
    assert [r.zipcode for r in await server.store.zipcode_reports(done.epoch_id)] == ["60614"]


async def test_one_low_stake_validator_cannot_swing_the_consensus(api_server: ApiServer) -> None:
    """Attack: a second validator (minimum stake) reports an absurd count and a zero."""
    from bittensor.sp_core import Keypair

    server = api_server
    done = server.epochs.completed
    evil = Keypair.create_from_uri("//calibration-evil")
    server.chain.register(evil.ss58_address, "5cold-evil", MIN_VALIDATOR_STAKE, True)
    await server.refresh_metagraph()
    for key, counts in (
        (server.keys.validator, _counts(z10001=420, z60614=380)),
        (evil, _counts(z10001=9_000_000, z60614=0)),
    ):
        report = validator_key(key.ss58_address, done.epoch_id, "validation_report.json")
        async with server.client(key) as api:
            await api.post_result(done.epoch_id, "a" * 64, report, zipcode_counts=counts)
    manager = EpochManager(server.store, server.settings, TEST_SECRET, [])
    folded = await manager.fold_reports(done.end + manager.clock.length + timedelta(seconds=1))
    assert folded == [done.epoch_id]
    history = await server.store.validated_history()
    assert (history["10001"], history["60614"]) == ([420], [380])
    assert manager.believed_empty(history) == set()
