"""Store methods of the calibration loop (a mixin of ``SqlStore``; same SQL on both backends).

Validators' per-zipcode reports are kept raw per (epoch, validator, zipcode); once an epoch's
reporting window has passed, the API folds them once (``fold_calibration``: a unique row per
epoch makes a replica race fold it exactly once) into ``validated_counts``, the consensus history.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from resi.epoch.calibration import ZipcodeReport

if TYPE_CHECKING:
    from resi.epoch.store.dialect import Dialect
    from resi.epoch.store.drivers import Driver


class CalibrationSql:
    """Calibration and honeypot-belief tables (see ``Store`` for the contracts)."""

    _driver: Driver
    _d: Dialect

    async def record_zipcode_reports(
        self,
        epoch_id: str,
        validator_hotkey: str,
        stake: float,
        reports: Sequence[tuple[str, int, bool]],
        at: datetime,
    ) -> None:
        async with self._driver.transaction() as c:
            # A validator's newer result replaces its earlier reports for the epoch as a whole.
            await c.execute(
                "DELETE FROM zipcode_reports WHERE epoch_id = ? AND validator_hotkey = ?",
                epoch_id,
                validator_hotkey,
            )
            if reports:
                await c.executemany(
                    "INSERT INTO zipcode_reports (epoch_id, validator_hotkey, zipcode, "
                    "validated_count, contradicted, stake, reported_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        (epoch_id, validator_hotkey, z, int(n), bool(flag), float(stake),
                         self._d.ts_in(at))
                        for z, n, flag in sorted(reports)
                    ],
                )  # fmt: skip

    async def zipcode_reports(self, epoch_id: str) -> list[ZipcodeReport]:
        async with self._driver.connection() as c:
            rows = await c.fetch(
                "SELECT validator_hotkey, zipcode, validated_count, contradicted, stake "
                "FROM zipcode_reports WHERE epoch_id = ? ORDER BY zipcode, validator_hotkey",
                epoch_id,
            )
        return [
            ZipcodeReport(
                validator=r["validator_hotkey"],
                zipcode=r["zipcode"],
                count=int(r["validated_count"]),
                contradicted=self._d.bool_out(r["contradicted"]),
                stake=float(r["stake"]),
            )
            for r in rows
        ]

    async def fold_calibration(
        self, epoch_id: str, counts: Mapping[str, int], at: datetime
    ) -> bool:
        async with self._driver.transaction() as c:
            won = await c.fetch(
                "INSERT INTO calibration_folds (epoch_id, zipcodes, folded_at) VALUES (?, ?, ?) "
                "ON CONFLICT (epoch_id) DO NOTHING RETURNING epoch_id",
                epoch_id,
                len(counts),
                self._d.ts_in(at),
            )
            if not won:
                return False
            if counts:
                await c.executemany(
                    "INSERT INTO validated_counts (epoch_id, zipcode, listing_count) "
                    "VALUES (?, ?, ?) ON CONFLICT (epoch_id, zipcode) DO UPDATE SET "
                    "listing_count = excluded.listing_count",
                    [(epoch_id, z, int(n)) for z, n in sorted(counts.items())],
                )
        return True

    async def folded_epochs(self) -> set[str]:
        async with self._driver.connection() as c:
            rows = await c.fetch("SELECT epoch_id FROM calibration_folds")
        return {r["epoch_id"] for r in rows}

    async def record_empty_beliefs(
        self, zipcodes: Collection[str], source: str, at: datetime
    ) -> int:
        if not zipcodes:
            return 0
        async with self._driver.transaction() as c:
            await c.executemany(
                "INSERT INTO empty_beliefs (zipcode, source, recorded_at) VALUES (?, ?, ?) "
                "ON CONFLICT (zipcode) DO UPDATE SET source = excluded.source, "
                "recorded_at = excluded.recorded_at",
                [(z, source, self._d.ts_in(at)) for z in sorted(set(zipcodes))],
            )
        return len(set(zipcodes))

    async def empty_beliefs(self) -> set[str]:
        async with self._driver.connection() as c:
            rows = await c.fetch("SELECT zipcode FROM empty_beliefs")
        return {r["zipcode"] for r in rows}
