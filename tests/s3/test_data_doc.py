"""docs/data.md's snippets run, as written, against a mirror of a bucket the real code wrote.

The bucket is the one of the validator end-to-end test (tests/validate/test_validator_e2e.py):
miner files scraped from the simulated market, uploaded under their `miner_key`, and a real
validator run that publishes its outputs under `validator_key`. The whole bucket is copied to a
local folder (as `aws s3 sync` would), then each python block of the doc is executed there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from resi.s3.layout import miner_prefix, validator_key, validator_prefix
from tests.validate.test_validator_e2e import World, _close, _validator
from tests.validate.test_validator_e2e import world as world  # the fixture, re-exported

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
DOC_EPOCH = "2025-10-01T16-00-00"


def doc_blocks() -> dict[str, str]:
    """The doc's python blocks by the heading above them (DuckDB, pandas, pyarrow)."""
    blocks: dict[str, str] = {}
    heading = ""
    for m in re.finditer(r"^## ([^\n]+)$|^```python\n(.*?)^```", DOC.read_text(), re.M | re.S):
        if m[1]:
            heading = m[1].strip()
        else:
            blocks[heading] = m[2]
    return blocks


def test_doc_has_the_three_tools() -> None:
    assert set(doc_blocks()) == {"DuckDB", "pandas", "pyarrow"}
    for code in doc_blocks().values():
        # One epoch literal per block: the test swaps it for the epoch it produced.
        assert code.count(DOC_EPOCH) == 1


async def _mirror(w: World, dest: Path, validator: str) -> list[str]:
    """Copy this test's objects (its miners' files, its validator's outputs) to ``dest``.

    The session's bucket is shared with other tests, so only this world's keys are mirrored.
    """
    epoch_id = w.epoch.epoch_id
    prefixes = [miner_prefix(hk, epoch_id) for hk in w.miners.values()]
    prefixes.append(validator_prefix(validator, epoch_id))
    keys = []
    for prefix in prefixes:
        async for info in w.server.s3.list_keys(prefix):
            keys.append(info.key)
            path = dest / info.key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(await w.server.s3.get_bytes(info.key))
    return sorted(keys)


def _run(code: str, epoch_id: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(cwd)
    namespace: dict[str, Any] = {}
    exec(compile(code.replace(DOC_EPOCH, epoch_id), str(DOC), "exec"), namespace)
    return namespace


def _as_rows(frame: Any) -> list[tuple[str, str, str]]:
    """(validator or epoch, zipcode, listing_id) of a pandas frame or Arrow table, sorted."""
    if isinstance(frame, pa.Table):
        frame = frame.to_pandas()
    col = "validator" if "validator" in frame.columns else "hotkey"
    return sorted(zip(frame[col], frame["zipcode"], frame["listing_id"], strict=True))


@pytest.mark.anyio
async def test_doc_snippets_read_the_real_bucket(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    epoch_id = world.epoch.epoch_id
    async with httpx.AsyncClient(timeout=20) as http:
        v1 = _validator(world, tmp_path, "v1", http)
        try:
            outcome = await v1.validate(epoch_id)
        finally:
            await _close(v1)
    validator = world.server.keys.validator.ss58_address
    keys = await _mirror(world, tmp_path / "mirror", validator)
    # The layout the doc describes is the one the code wrote.
    assert validator_key(validator, epoch_id, "validated_data.parquet") in keys
    assert validator_key(validator, epoch_id, "validation_report.json") in keys
    first = world.miners["first"]
    assert any(k.startswith(miner_prefix(first, epoch_id) + "10001-") for k in keys)

    expected = pa.parquet.read_table(  # type: ignore[attr-defined]
        tmp_path / "mirror" / validator_key(validator, epoch_id, "validated_data.parquet")
    )
    assert expected.num_rows > 0
    assert set(expected.column("zipcode").to_pylist()) == set(outcome.result.winners) - {"00501"}
    zips, ids = expected["zipcode"].to_pylist(), expected["listing_id"].to_pylist()
    want = sorted((validator, z, i) for z, i in zip(zips, ids, strict=True))
    raw_rows = sum(
        pa.parquet.read_table(tmp_path / "mirror" / k).num_rows  # type: ignore[attr-defined]
        for k in keys
        if k.startswith("data/")
    )

    blocks = doc_blocks()
    for tool, code in blocks.items():
        ns = _run(code, epoch_id, tmp_path, monkeypatch)
        assert _as_rows(ns["listings"]) == want, tool
        listings = ns["listings"]
        zips = (listings.to_pandas() if isinstance(listings, pa.Table) else listings)["zipcode"]
        assert all(isinstance(z, str) and len(z) == 5 for z in zips), tool
    # The whole-bucket reads: every miner row, zipcode still text, hotkey/epoch from folders.
    duck = _run(blocks["DuckDB"], epoch_id, tmp_path, monkeypatch)["per_zip"]
    assert int(duck["rows"].sum()) == raw_rows
    assert all(isinstance(z, str) and len(z) == 5 for z in duck["zipcode"])
    raw_pd = _run(blocks["pandas"], epoch_id, tmp_path, monkeypatch)["raw"]
    raw_pa = _run(blocks["pyarrow"], epoch_id, tmp_path, monkeypatch)["raw"]
    for raw in (raw_pd, raw_pa.to_pandas()):
        assert len(raw) == raw_rows
        assert set(raw["epoch"].astype(str)) == {epoch_id}
        assert first in set(raw["hotkey"].astype(str))
        assert all(isinstance(z, str) and len(z) == 5 for z in raw["zipcode"])
    assert raw_pa.schema.field("zipcode").type == pa.string()
