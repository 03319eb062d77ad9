"""The consensus hash: sha256 of canonical JSON of an epoch's scores and winners (DESIGN §8)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

SCORE_PLACES = 9


def decimal_string(value: Fraction | float, places: int = SCORE_PLACES) -> str:
    """``value`` rounded half-even to ``places`` decimals, as a fixed-point string."""
    frac = Fraction(value)
    scaled = round(frac * 10**places)
    sign = "-" if scaled < 0 else ""
    scaled = abs(scaled)
    return f"{sign}{scaled // 10**places}.{scaled % 10**places:0{places}d}"


def canonical_json(payload: Any) -> bytes:
    """JSON with sorted keys and no whitespace, UTF-8 encoded."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def consensus_payload(
    epoch_id: str,
    nonce: str,
    scores: Mapping[str, Fraction | float],
    winners: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The hashed document: scores as decimal strings, winners as ordered hotkey lists."""
    return {
        "epoch_id": epoch_id,
        "nonce": nonce,
        "scores": {hk: decimal_string(v) for hk, v in scores.items()},
        "winners": {z: list(hks) for z, hks in winners.items()},
    }


def consensus_hash(
    epoch_id: str,
    nonce: str,
    scores: Mapping[str, Fraction | float],
    winners: Mapping[str, Sequence[str]],
) -> str:
    """Hex sha256 of the canonical JSON of ``consensus_payload``; independent of dict order."""
    return hashlib.sha256(
        canonical_json(consensus_payload(epoch_id, nonce, scores, winners))
    ).hexdigest()
