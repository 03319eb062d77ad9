"""Issue 12: no value a miner can write stops tier 2, and one file cannot change another's outcome.

Every numeric and timestamp column takes the whole range of its Arrow type (extremes, negatives,
NaN/inf, nulls); ids take odd forms. Each case becomes a count or a reason code, never an
exception, and the honest file assessed beside a hostile one gets exactly what it gets alone.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from resi.score.models import FileMeta, FileOutcome, Reason
from resi.score.tiers import assess_zipcode, is_canonical_id
from resi.scrape.listing import LISTING_SCHEMA, FileMetadata
from resi.validate.inputs import read_limits, read_outcome
from tests.score.builders import (
    CONFIG,
    EPOCH,
    NONCE,
    SEED,
    T0,
    assignment,
    rows,
    submission,
)

_INT_RANGES = {
    pa.int32(): (-(2**31), 2**31 - 1),
    pa.int64(): (-(2**63), 2**63 - 1),
}
NUMERIC = [f for f in LISTING_SCHEMA if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]
TIMESTAMPS = [f.name for f in LISTING_SCHEMA if pa.types.is_timestamp(f.type)]


def _assess(subs: list[Any], expected: int = 20) -> list[Any]:
    return assess_zipcode(
        assignment(expected=expected),
        subs,
        epoch_id=EPOCH,
        nonce=NONCE,
        validation_seed=SEED,
        config=CONFIG,
    )


def _value(field: pa.Field) -> st.SearchStrategy[Any]:
    if pa.types.is_floating(field.type):
        return st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True))
    lo, hi = _INT_RANGES[field.type]
    return st.one_of(st.none(), st.integers(lo, hi), st.sampled_from([lo, hi, -1, 0]))


def _micros() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.integers(-(2**63) + 1, 2**63 - 1))


def _with_timestamps(records: list[dict[str, Any]], ts: dict[str, list[Any]]) -> pa.Table:
    t = pa.Table.from_pylist(records, schema=LISTING_SCHEMA)
    for name, values in ts.items():
        arr = pa.array(values, pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        t = t.set_column(t.schema.get_field_index(name), name, arr)
    return t


def _hostile_sub(hotkey: str, table: pa.Table, at: int = 0) -> Any:
    commit, _ = submission(hotkey, rows(table.num_rows), at=at)
    meta = FileMeta(epoch_id=EPOCH, nonce=NONCE, miner_hotkey=hotkey, zipcode="10001")
    return commit, FileOutcome.ok(table, meta)


# FUZZ_EXAMPLES=2000 runs the long version (see bench/bench_hostile.py)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True)
@given(data=st.data())
def test_any_value_in_range_of_its_type_is_a_count_never_an_exception(data: st.DataObject) -> None:
    n = 20
    records = rows(n)
    for f in NUMERIC:
        values = data.draw(st.lists(_value(f), min_size=n, max_size=n), label=f.name)
        for r, v in zip(records, values, strict=True):
            r[f.name] = v
    ts = {name: data.draw(st.lists(_micros(), min_size=n, max_size=n)) for name in TIMESTAMPS}
    generated = _with_timestamps(records, ts)
    # through Parquet and the validator's bounded reader, as a miner's file would come
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "evil.parquet"
        meta = FileMetadata(EPOCH, NONCE, "evil", "10001")
        # declared nullable, as a miner's own writer may (nulls in required columns included)
        loose = pa.schema([f.with_nullable(True) for f in LISTING_SCHEMA], meta.to_kv())
        pq.write_table(pa.Table.from_arrays(generated.columns, schema=loose), path)
        outcome = read_outcome(path, read_limits(20, CONFIG))
    assert outcome.reason is None and outcome.table is not None
    assert outcome.table.nbytes <= read_limits(20, CONFIG).budget(n)
    hostile = _hostile_sub("evil", outcome.table, at=-30)
    honest = submission("good", rows(n), at=60)
    together = _assess([hostile, honest])
    alone = _assess([honest])
    assert len(together) == 2
    assert together[1] == alone[0]  # the hostile neighbour changes nothing
    evil = together[0]
    assert evil.reasons  # out-of-range values or times: never passes, never raises
    assert not evil.liar


def test_int64_extremes_make_rows_implausible_not_an_error() -> None:
    records = rows(20)
    for r in records[:10]:
        r["price"] = 2**63 - 1
        r["lot_sqft"] = -(2**63)
        r["bathrooms"] = float("nan")
    commit, outcome = submission("hk", records)
    [a] = _assess([(commit, outcome)])
    assert a.metrics is not None and a.metrics.plausible == 10
    assert Reason.T2_IMPLAUSIBLE in a.reasons


def test_a_kernel_failure_is_that_files_unsupported_value_only() -> None:
    # a recorded table whose price column is text (never produced by the reader, but replayable)
    records = rows(20)
    t = pa.Table.from_pylist(records, schema=LISTING_SCHEMA)
    t = t.set_column(t.schema.get_field_index("price"), "price", pa.array(["x"] * 20))
    odd = _hostile_sub("odd", t, at=-10)
    honest = submission("good", rows(20), at=60)
    odd_a, honest_a = _assess([odd, honest])
    assert odd_a.reasons == (Reason.UNSUPPORTED_VALUE,) and not odd_a.liar
    assert honest_a == _assess([honest])[0]


def test_scraped_at_outside_the_epoch_window_is_ineligible() -> None:
    skew = timedelta(seconds=CONFIG.scraped_at_skew_seconds)
    start = T0 - timedelta(minutes=5)  # EPOCH is T0 − 5 min
    early = rows(20, scraped_at=start - skew - timedelta(seconds=1))
    edge = rows(20, scraped_at=start - skew)
    after = rows(20, scraped_at=T0 + skew + timedelta(seconds=1))  # committed at T0
    got = {
        name: _assess([submission(name, recs, at=0)])[0].reasons
        for name, recs in (("early", early), ("edge", edge), ("after", after))
    }
    assert got["early"][0] is Reason.SCRAPED_OUTSIDE_EPOCH
    assert got["after"][0] is Reason.SCRAPED_OUTSIDE_EPOCH
    assert Reason.SCRAPED_OUTSIDE_EPOCH not in got["edge"]


def test_listed_at_and_days_on_market_must_agree_with_scraped_at() -> None:
    records = rows(20)
    for r in records[:2]:
        r["listed_at"] = T0 + timedelta(days=3)  # listed after it was scraped
    for r in records[2:4]:
        r["listed_at"] = T0 - timedelta(days=2)
        r["days_on_market"] = 10  # on the market longer than since it was listed
    for r in records[4:6]:
        r["listed_at"] = T0 - timedelta(days=10)
        r["days_on_market"] = 10  # consistent
    [a] = _assess([submission("hk", records)])
    assert a.metrics is not None and a.metrics.plausible == 16


def test_only_canonical_ids_are_consistent() -> None:
    records = rows(20)
    odd = ["0" + records[0]["listing_id"], records[1]["listing_id"] + "_zpid", " 1002", "1O03"]
    for r, value in zip(records, odd, strict=False):
        r["listing_id"] = value
    [a] = _assess([submission("hk", records)])
    assert a.metrics is not None and a.metrics.consistent == 16
    assert not any(is_canonical_id(v) for v in odd)
    assert is_canonical_id("1234") and is_canonical_id("abc1")
    assert not is_canonical_id("") and not is_canonical_id("0") and not is_canonical_id(None)
