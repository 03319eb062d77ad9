"""Memory housekeeping while an epoch is scored: fewer, cheaper cyclic GC runs.

Scoring allocates millions of short-lived objects (per-file results, sampled rows, lookups)
next to a large, long-lived heap (modules, settings, caches). With CPython's default
thresholds the collector ran about a thousand times per 50-miner epoch and kept rescanning
that long-lived heap: ≈10% of the wall time. While scoring, :func:`scoring_gc` freezes what is
alive at its start (``gc.freeze``: never scanned again until unfrozen) and makes young
collections rarer. Both are undone when scoring ends, so nothing outlives the epoch that
the collector would otherwise have freed: a long-running validator does not leak.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SCORING_THRESHOLDS = (50_000, 20, 100)
"""``gc.set_threshold`` while scoring (CPython's default is 700, 10, 10)."""

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def scoring_gc() -> Iterator[None]:
    """Freeze the heap alive now and raise the collection thresholds until the block ends.

    Re-entrant (only the outermost block acts) and safe to leave by an exception: the
    thresholds are restored and the frozen objects return to the oldest generation.
    """
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(*SCORING_THRESHOLDS)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                gc.set_threshold(*_saved)
                gc.unfreeze()
