"""Deterministic tier-3 sampling: the per-submission seed, the sample size, the index stream.

The index stream is a hand-rolled SHA-256 counter stream driving a lazy Fisher–Yates shuffle,
so every validator on every Python version draws the same rows; ``random.Random`` is not used
because its algorithms are not promised stable across versions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from resi.config import ScoringSettings


def spot_seed(validation_seed: str, hotkey: str, zipcode: str, file_sha256: str) -> bytes:
    """sha256(``{validation_seed}:{hotkey}:{zipcode}:{file_sha256}``) as 32 raw bytes."""
    text = f"{validation_seed}:{hotkey}:{zipcode}:{file_sha256}"
    return hashlib.sha256(text.encode()).digest()


def sample_size(rows: int, config: ScoringSettings) -> int:
    """k = min(max_sample, max(min_sample, rows // rows_per_sample)), never more than ``rows``."""
    k = min(
        config.spot_max_sample,
        max(config.spot_min_sample, rows // config.spot_rows_per_sample),
    )
    return max(0, min(k, rows))


def max_draws(rows: int, config: ScoringSettings) -> int:
    """How many distinct indices tier 3 may draw: factor × k, bounded by the row count."""
    return min(rows, config.spot_max_draw_factor * sample_size(rows, config))


def _uniform(seed: bytes, counter: int, bound: int) -> int:
    """A uniform integer in [0, bound) from the counter stream (rejection sampling, no bias)."""
    limit = (1 << 64) - ((1 << 64) % bound)
    attempt = 0
    while True:
        block = hashlib.sha256(
            seed + counter.to_bytes(8, "big") + attempt.to_bytes(4, "big")
        ).digest()
        value = int.from_bytes(block[:8], "big")
        if value < limit:
            return value % bound
        attempt += 1


def draw_indices(seed: bytes, rows: int) -> Iterator[int]:
    """Distinct row indices in seeded order (a lazy Fisher–Yates over ``range(rows)``)."""
    swapped: dict[int, int] = {}
    for j in range(rows):
        r = j + _uniform(seed, j, rows - j)
        pick = swapped.get(r, r)
        swapped[r] = swapped.get(j, j)
        yield pick
