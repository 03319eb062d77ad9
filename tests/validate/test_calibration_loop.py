"""The calibration loop end to end: a real validator posts its validated count per zipcode with
its result, the API keeps the reports with the validator's stake, the epoch manager folds them
(once) into the consensus history, and the next selections read it (issue 14).

Real parts: API (SQLite), SeaweedFS, simulated market, devnet chain, the validator loop.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from resi.epoch.catalog import calibrate, step_toward
from resi.epoch.manager import EpochManager
from resi.epoch.models import EpochState
from tests.fixtures.api import TEST_SECRET, VALIDATOR_STAKE
from tests.fixtures.market import SIM_CATALOG
from tests.validate.test_validator_e2e import (  # noqa: F401 (the world fixture)
    HONEYPOT,
    World,
    _close,
    _commit,
    _validator,
    world,
)

pytestmark = pytest.mark.anyio


async def test_validator_counts_reach_the_next_selection(
    world: World,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    server, epoch = world.server, world.epoch
    # An honest miner's search of the honeypot came back empty: it commits a 0-row file.
    files = tmp_path / "empty"
    files.mkdir()
    await _commit(world, files, world.miners["second"], HONEYPOT, [], at=150)
    async with httpx.AsyncClient(timeout=20) as http:
        v = _validator(world, tmp_path, "v1", http)
        try:
            out = await v.validate(epoch.epoch_id)
        finally:
            await _close(v)
    result = out.result
    counts = {r.zipcode: r for r in await server.store.zipcode_reports(epoch.epoch_id)}
    # Verified counts of the won zipcodes, 0 for the honeypot (validated empty, not contradicted).
    assert {z: c.count for z, c in counts.items()} == {
        "10001": result.validated_counts["10001"],
        "60614": result.validated_counts["60614"],
        HONEYPOT: 0,
    }
    assert all(c.stake == VALIDATOR_STAKE for c in counts.values())
    assert not any(c.contradicted for c in counts.values())

    manager = EpochManager(server.store, server.settings, TEST_SECRET, list(SIM_CATALOG.values()))
    # Not before the reporting window (the next epoch) has closed...
    assert await manager.fold_reports(epoch.end + timedelta(minutes=1)) == []
    # ...then exactly once.
    after = epoch.end + manager.clock.length + timedelta(seconds=1)
    assert epoch.epoch_id in await manager.fold_reports(after)
    assert epoch.epoch_id not in await manager.fold_reports(after)
    history = await server.store.validated_history()
    assert history["10001"] == [result.validated_counts["10001"]]
    assert history[HONEYPOT] == [0]

    # The next selection shows the calibrated count (one bounded step toward the consensus).
    step = server.settings.calibration_max_step
    calibrated = {z.zipcode: z for z in calibrate(list(SIM_CATALOG.values()), history, step)}
    base = SIM_CATALOG["60614"].expected_listings
    assert calibrated["60614"].expected_listings == step_toward(
        base, result.validated_counts["60614"], step
    )
    _, assignments = manager.build(
        "2030-06-01T00-00-00", EpochState.PENDING, cooldown=set(), history=history
    )
    shown = {a.zipcode: a.expected_listings for a in assignments}
    assert shown
    for zipcode, n in shown.items():
        assert n == calibrated[zipcode].expected_listings
    # The UNIQUE-type zipcode was validated empty, but public data names its type: never a
    # honeypot (nor a real pick).
    assert HONEYPOT not in shown
