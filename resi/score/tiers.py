"""Order-independent checks of one committed file: integrity, honeypot, tiers 1 and 2.

All per-row work is vectorised with pyarrow compute. Definitions (DESIGN §8, written down here):

- *completeness*: share of rows whose every required field is present (non-null; strings
  non-blank).
- *plausible*: share of rows whose present values lie in sane ranges (price, sizes, years, counts)
  and whose coordinates, when given, lie within ``vicinity_km`` of the zipcode centre (a row
  with only one of latitude/longitude is implausible).
- *consistency*: share of rows whose zipcode and state equal the assignment's, whose
  ``listing_id`` is already in canonical form (see ``is_canonical_id``) and whose url carries
  that same id.
- *scraped_at window*: every ``scraped_at`` must lie in [epoch start − skew, the commit's receive
  time + skew]; otherwise the file is ineligible (``SCRAPED_OUTSIDE_EPOCH``). ``listed_at`` may
  not lie after ``scraped_at`` (+ skew) nor before 1900, and ``days_on_market`` may not exceed the
  whole days between ``listed_at`` and ``scraped_at`` plus one (both are plausibility checks).

Every numeric check accepts the whole range of its Arrow type (extremes, negatives, NaN/inf,
nulls): a value the checks cannot place is implausible, never an exception. Should a kernel still
fail on some file, that file alone gets ``UNSUPPORTED_VALUE`` (``assess_zipcode`` retries file by
file), so one file can never stop the assessment of another.
- *duplicate share*: (rows − distinct canonical ids) / rows.

Thresholds compare exact fractions against the configured decimal (0.85 means 17/20).
- *fingerprint*: sha256 over the sorted per-row string encodings of every column (scraped_at
  included), so two honest scrapes of the same site differ while a re-labelled copy does not.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from resi.config import ScoringSettings
from resi.score.models import (
    LIAR_FILE_REASONS,
    AssignmentInput,
    ClaimedRow,
    CommitInput,
    FileAssessment,
    FileOutcome,
    Metrics,
    Reason,
    SampleRow,
    exact,
)
from resi.score.sampling import draw_indices, max_draws, sample_size, spot_seed
from resi.scrape.listing import REQUIRED_COLUMNS

# (column, lowest, highest) for values that must be sane when present.
PLAUSIBLE_RANGES: tuple[tuple[str, float, float], ...] = (
    ("price", 1_000, 1_000_000_000),
    ("bedrooms", 0, 100),
    ("bathrooms", 0, 100),
    ("living_area_sqft", 50, 1_000_000),
    ("lot_sqft", 0, 1_000_000_000),
    ("days_on_market", 0, 36_500),
    ("photo_count", 0, 10_000),
)
# What a sampled row records: enough to look the listing up and compare it (tier 3).
CLAIMED_FIELDS = (*REQUIRED_COLUMNS, "bedrooms", "bathrooms", "living_area_sqft")
EARLIEST_YEAR_BUILT = 1600
URL_ID_PATTERN = r"(?P<id>[0-9A-Za-z]+)_zpid"
EARTH_RADIUS_KM = 6371.0088
# A canonical listing id: lower-case alphanumerics without leading zeros or ``_zpid``, bounded.
CANONICAL_ID_PATTERN = r"^[1-9a-z][0-9a-z]{0,63}$"
EARLIEST_LISTED_AT = datetime(1900, 1, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000
_EPOCH_ID_FORMAT = "%Y-%m-%dT%H-%M-%S"
# Rows assessed in one vectorised batch: big enough that the per-kernel overhead is noise,
# small enough that a zipcode's intermediates stay bounded as the number of miners grows.
ASSESS_BATCH_ROWS = 32_768

log = logging.getLogger(__name__)


def _col(table: pa.Table, name: str) -> pa.ChunkedArray:
    """The column, or an all-null one when the file lacks it (schema checks live elsewhere)."""
    if table.schema.get_field_index(name) >= 0:
        return table.column(name)
    return pa.chunked_array([pa.nulls(table.num_rows)])


def per_distinct(values: pa.ChunkedArray | pa.Array, fn: Callable[[pa.Array], Any]) -> Any:
    """``fn(values)`` for an element-wise ``fn``, computed once per distinct value.

    The files of a zipcode repeat most string values (every miner scrapes the same listings),
    so string kernels and regexes over the distinct values plus one ``take`` cost a fraction of
    running them over every row. A null is a dictionary value of its own, so ``fn`` sees it
    exactly as it would in ``values``: the result equals ``fn(values)`` element by element.
    """
    encoded = pc.dictionary_encode(values, null_encoding="encode")
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()  # one dictionary for every chunk
    return pc.take(fn(encoded.dictionary), encoded.indices)


def _canonical(s: Any) -> Any:
    s = pc.utf8_lower(pc.utf8_trim_whitespace(s))
    s = pc.replace_substring_regex(s, pattern="_zpid$", replacement="")
    return pc.utf8_ltrim(s, characters="0")


def canonical_ids(values: pa.ChunkedArray | pa.Array) -> Any:
    """Canonical listing ids: trimmed, lower-case, ``_zpid`` suffix and leading zeros removed."""
    return per_distinct(pc.cast(values, pa.string()), _canonical)


def canonical_id(value: Any) -> str:
    """The canonical id of one value (same rules as ``canonical_ids``)."""
    s = str(value).strip().lower()
    if s.endswith("_zpid"):
        s = s[: -len("_zpid")]
    return s.lstrip("0")


def is_canonical_id(value: Any) -> bool:
    """True when ``value`` is a string already in canonical form (what spot checks look up)."""
    return (
        isinstance(value, str)
        and re.fullmatch(CANONICAL_ID_PATTERN, value) is not None
        and canonical_id(value) == value
    )


def canonical_form_mask(values: pa.ChunkedArray | pa.Array) -> Any:
    """Per row: ``listing_id`` is already canonical (null → False)."""

    def canonical_form(raw: pa.Array) -> Any:
        return pc.fill_null(pc.match_substring_regex(raw, pattern=CANONICAL_ID_PATTERN), False)

    return per_distinct(pc.cast(values, pa.string()), canonical_form)


def _present(table: pa.Table, name: str) -> Any:
    col = _col(table, name)
    valid = pc.is_valid(col)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        blank = pc.or_(pc.equal(pc.binary_length(col), 0), pc.utf8_is_space(col))
        valid = pc.and_(valid, pc.invert(pc.fill_null(blank, True)))
    return valid


def complete_mask(table: pa.Table) -> Any:
    """Per row: every required field present."""
    mask = _present(table, REQUIRED_COLUMNS[0])
    for name in REQUIRED_COLUMNS[1:]:
        mask = pc.and_(mask, _present(table, name))
    return mask


def _in_range(col: pa.ChunkedArray | pa.Array, lo: float, hi: float) -> Any:
    # unsafe cast: int64 extremes lose precision as floats instead of raising (NaN fails both)
    num = pc.cast(col, pa.float64(), safe=False)
    ok = pc.and_(pc.greater_equal(num, lo), pc.less_equal(num, hi))
    return pc.fill_null(ok, True)  # absent values are judged by completeness, not here


def _near_centre(table: pa.Table, lat0: float, lon0: float, km: float) -> Any:
    lat = pc.cast(_col(table, "latitude"), pa.float64(), safe=False)
    lon = pc.cast(_col(table, "longitude"), pa.float64(), safe=False)
    rad = math.pi / 180.0
    dlat = pc.multiply(pc.subtract(lat, lat0), rad / 2)
    dlon = pc.multiply(pc.subtract(lon, lon0), rad / 2)
    a = pc.add(
        pc.power(pc.sin(dlat), 2),
        pc.multiply(
            pc.multiply(pc.cos(pc.multiply(lat, rad)), math.cos(lat0 * rad)),
            pc.power(pc.sin(dlon), 2),
        ),
    )
    dist = pc.multiply(pc.asin(pc.sqrt(pc.min_element_wise(a, 1.0))), 2 * EARTH_RADIUS_KM)
    near = pc.less_equal(dist, km)
    both_null = pc.and_(pc.is_null(lat), pc.is_null(lon))
    # one coordinate without the other is implausible; neither is merely incomplete
    return pc.or_(pc.fill_null(near, False), both_null)


def _micros(col: pa.ChunkedArray | pa.Array) -> Any:
    """Timestamps as float64 microseconds (no overflow in later arithmetic, nulls kept)."""
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.int64())
    return pc.cast(col, pa.float64(), safe=False)


def _dates_consistent(table: pa.Table, skew_seconds: int) -> Any:
    """Per row: listed_at in [1900, scraped_at + skew]; days_on_market ≤ days since listed + 1."""
    scraped = _micros(_col(table, "scraped_at"))
    listed = _micros(_col(table, "listed_at"))
    earliest = (EARLIEST_LISTED_AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    latest = pc.add(scraped, float(skew_seconds) * 1_000_000)
    listed_ok = pc.and_(pc.greater_equal(listed, float(earliest)), pc.less_equal(listed, latest))
    days = pc.floor(pc.divide(pc.subtract(scraped, listed), float(_US_PER_DAY)))
    dom = pc.cast(_col(table, "days_on_market"), pa.float64(), safe=False)
    dom_ok = pc.less_equal(dom, pc.add(days, 1.0))
    # a missing value is judged by completeness; NaN/inf compare false and so are implausible
    return pc.and_(pc.fill_null(listed_ok, True), pc.fill_null(dom_ok, True))


def plausible_mask(
    table: pa.Table,
    assignment: AssignmentInput,
    epoch_year: int,
    config: ScoringSettings,
) -> Any:
    """Per row: values plausible (see module docstring)."""
    mask = _near_centre(table, assignment.lat, assignment.lon, config.vicinity_km)
    for name, lo, hi in PLAUSIBLE_RANGES:
        mask = pc.and_(mask, _in_range(_col(table, name), lo, hi))
    mask = pc.and_(mask, _dates_consistent(table, config.scraped_at_skew_seconds))
    return pc.and_(mask, _in_range(_col(table, "year_built"), EARLIEST_YEAR_BUILT, epoch_year + 2))


def consistent_mask(table: pa.Table, assignment: AssignmentInput, ids: Any) -> Any:
    """Per row: zipcode/state match the assignment, the id is canonical and the url carries it.

    Every string step runs once per distinct value (``per_distinct``), not once per row.
    """
    state_wanted = assignment.state.strip().upper()

    def zip_matches(z: pa.Array) -> Any:
        return pc.equal(pc.utf8_trim_whitespace(z), assignment.zipcode)

    def state_matches(s: pa.Array) -> Any:
        return pc.equal(pc.utf8_upper(pc.utf8_trim_whitespace(s)), state_wanted)

    def url_ids(url: pa.Array) -> Any:
        return _canonical(pc.struct_field(pc.extract_regex(url, pattern=URL_ID_PATTERN), [0]))

    zip_ok = per_distinct(pc.cast(_col(table, "zipcode"), pa.string()), zip_matches)
    state_ok = per_distinct(pc.cast(_col(table, "state"), pa.string()), state_matches)
    url_id = per_distinct(pc.cast(_col(table, "url"), pa.string()), url_ids)
    id_ok = pc.and_(pc.equal(url_id, ids), canonical_form_mask(_col(table, "listing_id")))
    return pc.and_(pc.and_(zip_ok, state_ok), id_ok)


def row_strings(table: pa.Table) -> Any:
    """One string per row encoding every value of every column (sorted by column name)."""
    names = sorted(table.column_names)
    parts = []
    for n in names:
        col = table.column(n)
        if pa.types.is_timestamp(col.type):
            # formatting zoned timestamps is ~40x slower than the integer ticks they hold
            col = pc.cast(col, pa.int64())
        parts.append(pc.fill_null(pc.cast(col, pa.string()), "\x00"))
    return pc.binary_join_element_wise(*parts, "\x1f")


def _fingerprints(
    strings: Any, file_idx: Any, ids: Any, sizes: list[int], names: list[str]
) -> list[str]:
    """Per file: sha256 of its row strings ordered by canonical id (row order does not matter).

    Sorting by the short id instead of the whole row string is much cheaper; the sort is stable,
    so only rows sharing an id keep their file order (a reordered copy full of duplicate ids may
    then escape detection, but is caught by the duplicate-id check instead).

    The hashed text is the file's ordered row strings joined by ``\x1e``. It is hashed straight
    from the Arrow data buffer: every row string gets a ``\x1e`` appended, so a file's joined
    text is one contiguous byte range (minus the last separator), and no per-file Python string
    or bytes copy is ever made.
    """
    order = pc.sort_indices(
        pa.table({"f": file_idx, "id": ids}), sort_keys=[("f", "ascending"), ("id", "ascending")]
    )
    ordered = pc.take(strings, order)
    ordered = ordered.combine_chunks() if isinstance(ordered, pa.ChunkedArray) else ordered
    header = "\x1d".join(sorted(names)).encode()
    terminated = pc.binary_join_element_wise(ordered, "\x1e", "")
    _, offset_buf, data_buf = terminated.buffers()
    ends: memoryview[int] | None = None
    if offset_buf is not None:
        wide = pa.types.is_large_string(terminated.type)
        ends = memoryview(offset_buf).cast("q") if wide else memoryview(offset_buf).cast("i")
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    out: list[str] = []
    start = 0
    for n in sizes:
        h = hashlib.sha256(header)
        if n and ends is not None:
            part = ordered.slice(start, n)
            # a null row makes the whole joined text null, which hashed as "" (never produced
            # by ``row_strings``, which fills every null)
            if not part.null_count:
                base = terminated.offset + start
                h.update(data[ends[base] : ends[base + n] - 1])
        out.append(h.hexdigest())
        start += n
    return out


def fingerprint(table: pa.Table) -> str:
    """Order-insensitive sha256 of every value of every row (column names included)."""
    idx = pa.array([0] * table.num_rows, pa.int32())
    ids = canonical_ids(_col(table, "listing_id"))
    return _fingerprints(row_strings(table), idx, ids, [table.num_rows], table.column_names)[0]


def _jsonable_table(table: pa.Table) -> pa.Table:
    """Timestamps/dates as ISO strings so sampled rows are plain JSON values."""
    cols = []
    for f in table.schema:
        col = table.column(f.name)
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type):
            col = pc.cast(col, pa.string())
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def _shared_values(col: pa.ChunkedArray) -> list[Any]:
    """The column's values as Python objects, equal strings and ints sharing one object.

    Sampled rows of a zipcode repeat values (source, city, status, and the prices and sizes of
    a listing every miner scraped), and an epoch keeps every file's draws. Floats are left
    alone (0.0 == -0.0, yet they print differently).
    """
    if not (pa.types.is_string(col.type) or pa.types.is_integer(col.type)):
        return col.to_pylist()
    encoded = pc.dictionary_encode(col, null_encoding="encode").combine_chunks()
    distinct = encoded.dictionary.to_pylist()
    return list(map(distinct.__getitem__, encoded.indices.to_pylist()))


def _file_index(sizes: Sequence[int]) -> pa.Array:
    """0 repeated sizes[0] times, 1 repeated sizes[1] times, ... (built without Python loops)."""
    ends, total, values = [], 0, []
    for i, n in enumerate(sizes):
        if n:
            total += n
            ends.append(total)
            values.append(i)
    if not ends:
        return pa.array([], pa.int32())
    ree = pa.RunEndEncodedArray.from_arrays(
        pa.array(ends, pa.int32()), pa.array(values, pa.int32())
    )
    return pc.run_end_decode(ree)


def _draws(rows: int, seed: bytes, config: ScoringSettings) -> list[int]:
    limit = max_draws(rows, config)
    picks: list[int] = []
    for idx in draw_indices(seed, rows):
        if len(picks) >= limit:
            break
        picks.append(idx)
    return picks


@dataclass(frozen=True)
class _Stats:
    complete: int
    plausible: int
    consistent: int
    distinct: int
    scraped_min: int | None = None  # microseconds since 1970
    scraped_max: int | None = None


def _batch_stats(
    table: pa.Table,
    ids: Any,
    file_idx: Any,
    assignment: AssignmentInput,
    year: int,
    config: ScoringSettings,
    files: int,
) -> list[_Stats]:
    """Per-file counts of the tier-2 masks in one grouped aggregation over all files."""
    as_int = lambda m: pc.cast(pc.fill_null(m, False), pa.int8())  # noqa: E731
    grouped = (
        pa.table(
            {
                "f": file_idx,
                "complete": as_int(complete_mask(table)),
                "plausible": as_int(plausible_mask(table, assignment, year, config)),
                "consistent": as_int(consistent_mask(table, assignment, ids)),
                "id": ids,
                "scraped": pc.cast(_col(table, "scraped_at"), pa.int64()),
            }
        )
        .group_by("f")
        .aggregate(
            [
                ("complete", "sum"),
                ("plausible", "sum"),
                ("consistent", "sum"),
                ("id", "count_distinct", pc.CountOptions(mode="all")),
                ("scraped", "min"),
                ("scraped", "max"),
            ]
        )
    )
    out = [_Stats(0, 0, 0, 0)] * files
    cols = grouped.to_pydict()
    for i, f in enumerate(cols["f"]):
        out[f] = _Stats(
            cols["complete_sum"][i],
            cols["plausible_sum"][i],
            cols["consistent_sum"][i],
            cols["id_count_distinct"][i],
            cols["scraped_min"][i],
            cols["scraped_max"][i],
        )
    return out


def epoch_year(epoch_id: str) -> int:
    """The calendar year of an epoch id (``YYYY-MM-DDTHH-MM-SS``)."""
    return int(epoch_id[:4])


def epoch_start(epoch_id: str) -> datetime:
    """The start of an epoch (its id is the start time, ``YYYY-MM-DDTHH-MM-SS`` in UTC)."""
    return datetime.strptime(epoch_id, _EPOCH_ID_FORMAT).replace(tzinfo=UTC)


def _micros_of(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def scraped_in_window(
    st: _Stats, commit: CommitInput, epoch_id: str, config: ScoringSettings
) -> bool:
    """Every ``scraped_at`` of the file lies in [start − skew, received_at + skew]."""
    if st.scraped_min is None or st.scraped_max is None:
        return True  # no row, or no value at all (completeness judges missing values)
    skew = timedelta(seconds=config.scraped_at_skew_seconds)
    lo = _micros_of(epoch_start(epoch_id) - skew)
    hi = _micros_of(commit.received_at + skew)
    return lo <= st.scraped_min and st.scraped_max <= hi


def _integrity(
    commit: CommitInput,
    assignment: AssignmentInput,
    outcome: FileOutcome,
    epoch_id: str,
    nonce: str,
) -> FileAssessment | None:
    """The assessment of a file that fails before tiers 1–2 (integrity, honeypot), else None."""

    def verdict(reason: Reason, liar: bool, detail: str = "") -> FileAssessment:
        return FileAssessment(
            hotkey=commit.hotkey,
            zipcode=commit.zipcode,
            sha256=commit.sha256,
            rows=commit.rows,
            reasons=(reason,),
            liar=liar,
            detail=detail,
        )

    if outcome.reason is not None or outcome.table is None or outcome.meta is None:
        reason = outcome.reason or Reason.PARQUET_UNREADABLE
        return verdict(reason, reason in LIAR_FILE_REASONS, outcome.detail)
    meta, table = outcome.meta, outcome.table
    if (meta.epoch_id, meta.nonce, meta.miner_hotkey, meta.zipcode) != (
        epoch_id,
        nonce,
        commit.hotkey,
        commit.zipcode,
    ):
        return verdict(Reason.METADATA_MISMATCH, True, "file metadata differs from the commit")
    if table.num_rows != commit.rows:
        return verdict(
            Reason.ROWS_MISMATCH, True, f"file has {table.num_rows} rows, commit {commit.rows}"
        )
    if assignment.honeypot and table.num_rows == 0:
        return verdict(Reason.HONEYPOT_EMPTY, False)
    # A honeypot file with rows goes on like any file and is spot-checked (DESIGN §5): listings
    # that exist there contradict the belief; invented ones make a liar (the engine adds HONEYPOT).
    return None


def _tier_reasons(
    m: Metrics, expected: int, config: ScoringSettings, *, honeypot: bool = False
) -> list[Reason]:
    """Tier 1–2 reason codes of one file. A honeypot's shown expected count is a decoy, so its
    files skip tier 1: every one with rows reaches the spot check, which alone can tell listings
    that exist (the belief was wrong) from invented ones (a liar)."""
    reasons: list[Reason] = []
    if m.rows > row_cap(expected, config):
        reasons.append(Reason.LIMIT_EXCEEDED)
    if not honeypot and m.rows < exact(config.tier1_min_ratio) * expected:
        reasons.append(Reason.T1_TOO_FEW)
    if (
        not honeypot
        and config.tier1_max_ratio is not None
        and m.rows > exact(config.tier1_max_ratio) * expected
    ):
        reasons.append(Reason.T1_TOO_MANY)
    if m.share(m.complete) < exact(config.min_completeness):
        reasons.append(Reason.T2_INCOMPLETE)
    if m.share(m.plausible) < exact(config.min_plausible):
        reasons.append(Reason.T2_IMPLAUSIBLE)
    if m.share(m.consistent) < exact(config.min_consistency):
        reasons.append(Reason.T2_INCONSISTENT)
    if m.share(m.duplicates) > exact(config.max_duplicate_share):
        reasons.append(Reason.T2_DUPLICATES)
    return reasons


def row_cap(expected: int, config: ScoringSettings) -> int:
    """Most rows a file of a zipcode with ``expected`` listings may hold (LIMIT_EXCEEDED above)."""
    return max(config.max_rows_floor, config.max_rows_factor * expected)


def _normalised(tables: Iterable[pa.Table]) -> list[pa.Table]:
    """The tables without schema/field metadata and with every field nullable (so files concat).

    The files of a zipcode share one schema, so the normalised schema is built once per run of
    equal schemas (metadata compared too), and a table already in it (the reader worker's
    always is) is used as it is instead of being rebuilt column by column.
    """
    out: list[pa.Table] = []
    src: pa.Schema | None = None
    target: pa.Schema | None = None
    same = False
    for t in tables:
        schema = t.schema
        if src is None or target is None or not schema.equals(src, check_metadata=True):
            src = schema
            target = pa.schema([pa.field(f.name, f.type, nullable=True) for f in schema])
            same = schema.equals(target, check_metadata=True)
        out.append(t if same else pa.Table.from_arrays(t.columns, schema=target))
    return out


def _unsupported(commit: CommitInput, exc: BaseException) -> FileAssessment:
    return FileAssessment(
        hotkey=commit.hotkey,
        zipcode=commit.zipcode,
        sha256=commit.sha256,
        rows=commit.rows,
        reasons=(Reason.UNSUPPORTED_VALUE,),
        liar=False,
        detail=f"values the checks cannot evaluate: {type(exc).__name__}",
    )


def assess_zipcode(
    assignment: AssignmentInput,
    submissions: Sequence[tuple[CommitInput, FileOutcome]],
    *,
    epoch_id: str,
    nonce: str,
    validation_seed: str,
    config: ScoringSettings,
    batch_rows: int = ASSESS_BATCH_ROWS,
) -> list[FileAssessment]:
    """Integrity, honeypot and tiers 1–2 for every file of one zipcode, in input order.

    The readable files are concatenated in batches of about ``batch_rows`` rows and every
    mask is computed once over a batch, then counted per file with one grouped aggregation; so
    the cost is a few dozen Arrow kernels per batch rather than per file, and the memory of a
    batch does not grow with the number of miners. Never raises for anything a file contains:
    should a batch fail, each of its files is assessed alone and a file that still fails gets
    ``UNSUPPORTED_VALUE`` (the outcome of every other file is the same as in the batch).
    """
    out: list[FileAssessment | None] = []
    readable: list[tuple[int, CommitInput, pa.Table]] = []
    for commit, outcome in submissions:
        early = _integrity(commit, assignment, outcome, epoch_id, nonce)
        out.append(early)
        if early is None and outcome.table is not None:
            readable.append((len(out) - 1, commit, outcome.table))
    if not readable:
        return [a for a in out if a is not None]

    def batch(part: list[tuple[int, CommitInput, pa.Table]]) -> list[FileAssessment]:
        return _assess_readable(part, assignment, epoch_id, validation_seed, config)

    done: list[FileAssessment] = []
    for group in _row_bounded_groups(readable, batch_rows):
        try:
            done.extend(batch(group))
        except Exception as exc:  # miner content must not stop the zipcode
            log.warning(
                "zipcode %s: batch assessment failed (%r); file by file", assignment.zipcode, exc
            )
            for item in group:
                try:
                    done.extend(batch([item]))
                except Exception as one_exc:  # this file alone is unsupported
                    done.append(_unsupported(item[1], one_exc))
    for (pos, _, _), assessment in zip(readable, done, strict=True):
        out[pos] = assessment
    return [a for a in out if a is not None]


def _row_bounded_groups(
    readable: list[tuple[int, CommitInput, pa.Table]], batch_rows: int
) -> list[list[tuple[int, CommitInput, pa.Table]]]:
    """Consecutive groups of files of at most ``batch_rows`` rows (or one larger file).

    Every result is per file, so the grouping changes no outcome; it bounds the concatenated
    copy and the per-row intermediates to one group however many miners share the zipcode.
    """
    groups: list[list[tuple[int, CommitInput, pa.Table]]] = [[]]
    rows = 0
    for item in readable:
        if groups[-1] and rows + item[2].num_rows > batch_rows:
            groups.append([])
            rows = 0
        groups[-1].append(item)
        rows += item[2].num_rows
    return groups


def _assess_readable(
    readable: list[tuple[int, CommitInput, pa.Table]],
    assignment: AssignmentInput,
    epoch_id: str,
    validation_seed: str,
    config: ScoringSettings,
) -> list[FileAssessment]:
    """Tiers 1–2 and the seeded draws of readable files, in input order (may raise)."""
    tables = _normalised(t for _, _, t in readable)
    # one chunk: kernels then run once instead of once per file
    table = pa.concat_tables(tables, promote_options="permissive").combine_chunks()
    sizes = [t.num_rows for t in tables]
    file_idx = _file_index(sizes)
    ids = canonical_ids(_col(table, "listing_id"))
    stats = _batch_stats(table, ids, file_idx, assignment, epoch_year(epoch_id), config, len(sizes))
    prints = _fingerprints(row_strings(table), file_idx, ids, sizes, table.column_names)

    # seeded draws of the files that passed, fetched with one take
    offsets = [0]
    for n in sizes:
        offsets.append(offsets[-1] + n)
    metrics: list[Metrics] = []
    reasons: list[list[Reason]] = []
    picks: list[list[int]] = []
    for j, (_, commit, _) in enumerate(readable):
        st = stats[j]
        m = Metrics(sizes[j], st.complete, st.plausible, st.consistent, sizes[j] - st.distinct)
        metrics.append(m)
        reasons.append(
            _tier_reasons(m, assignment.expected_listings, config, honeypot=assignment.honeypot)
        )
        if not scraped_in_window(st, commit, epoch_id, config):
            reasons[-1].insert(0, Reason.SCRAPED_OUTSIDE_EPOCH)
        seed = spot_seed(validation_seed, commit.hotkey, commit.zipcode, commit.sha256)
        # Honeypot files are spot-checked whatever tiers 1–2 said (DESIGN §5): an invented file
        # must not escape the liar verdict by also being implausible.
        wanted = not reasons[-1] or assignment.honeypot
        picks.append(_draws(sizes[j], seed, config) if wanted else [])
    flat = pa.array([offsets[j] + i for j, ps in enumerate(picks) for i in ps], pa.int64())
    present = [n for n in CLAIMED_FIELDS if table.schema.get_field_index(n) >= 0]
    sampled = _jsonable_table(table.select(present).take(flat))
    positions = {name: i for i, name in enumerate(sampled.column_names)}
    columns = [_shared_values(sampled.column(i)) for i in range(sampled.num_columns)]
    claimed = [ClaimedRow(positions, row) for row in zip(*columns, strict=True)]
    # a canonical key equal to its listing id shares that object too
    seen = {v: v for v in columns[positions["listing_id"]]} if "listing_id" in positions else {}
    keys = [
        seen.setdefault(k, k) if k is not None else None for k in pc.take(ids, flat).to_pylist()
    ]

    done: list[FileAssessment] = []
    cursor = 0
    for j, (_, commit, _) in enumerate(readable):
        n = len(picks[j])
        sample = tuple(
            SampleRow(index=i, key=keys[cursor + t] or "", claimed=claimed[cursor + t])
            for t, i in enumerate(picks[j])
        )
        cursor += n
        done.append(
            FileAssessment(
                hotkey=commit.hotkey,
                zipcode=commit.zipcode,
                sha256=commit.sha256,
                rows=commit.rows,
                reasons=tuple(reasons[j]),
                liar=False,
                metrics=metrics[j],
                fingerprint=prints[j],
                k=sample_size(sizes[j], config) if picks[j] else 0,
                sample=sample,
            )
        )
    return done


def assess_file(
    commit: CommitInput,
    assignment: AssignmentInput,
    outcome: FileOutcome,
    *,
    epoch_id: str,
    nonce: str,
    validation_seed: str,
    config: ScoringSettings,
) -> FileAssessment:
    """Integrity, honeypot and tiers 1–2 for one file; returns its ``FileAssessment``."""
    return assess_zipcode(
        assignment,
        [(commit, outcome)],
        epoch_id=epoch_id,
        nonce=nonce,
        validation_seed=validation_seed,
        config=config,
    )[0]
