"""Weight conforming exactly as bittensor 11's ``SetWeights`` does it before submission.

Pure functions over plain lists; the arithmetic itself is the SDK's own ``clip_to_max_weight``
and ``normalize`` (imported lazily: ``import bittensor`` costs about half a second), so the
devnet chain stores the same u16 values a real chain would receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

U16_MAX = 65_535


class WeightsRejected(ValueError):
    """The weights cannot be submitted; ``code`` is a short machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ConformedWeights:
    uids: tuple[int, ...]
    weights_u16: tuple[int, ...]


def conform_weights(
    uids: Sequence[int],
    weights: Sequence[float],
    *,
    self_uid: int | None = None,
    max_weight_limit: int = U16_MAX,
    min_allowed_weights: int = 0,
) -> ConformedWeights:
    """Clip to ``max_weight_limit`` (u16 share), quantize to u16 and drop zeros.

    Mirrors ``bittensor.intents.weights._conform`` for float weights: a single self-weight is
    exempt from the clip and the minimum count. Returns the values the chain would store.
    Raises ``WeightsRejected`` (code ``invalid_weights``) for mismatched lengths, duplicate
    uids, negative or non-finite values, all-zero weights, or too few non-zero weights.
    """
    from bittensor import BittensorError
    from bittensor.intents.weights import clip_to_max_weight, normalize

    uid_list = [int(u) for u in uids]
    floats = [float(w) for w in weights]
    if len(uid_list) != len(floats):
        raise WeightsRejected("invalid_weights", f"{len(uid_list)} uids but {len(floats)} weights")
    if len(set(uid_list)) != len(uid_list):
        raise WeightsRejected("invalid_weights", "duplicate uids; each uid may appear once")
    is_self_weight = self_uid is not None and uid_list == [self_uid]
    try:
        if not is_self_weight and max_weight_limit < U16_MAX:
            floats = clip_to_max_weight(floats, max_weight_limit / U16_MAX)
        out_uids, out_vals = normalize(uid_list, floats)
    except BittensorError as exc:
        raise WeightsRejected("invalid_weights", str(exc)) from None
    if not out_uids:
        raise WeightsRejected("invalid_weights", "all weights are zero; nothing to set")
    if not is_self_weight and len(out_uids) < min_allowed_weights:
        raise WeightsRejected(
            "invalid_weights",
            f"at least {min_allowed_weights} non-zero weights are required, got {len(out_uids)}",
        )
    return ConformedWeights(tuple(out_uids), tuple(out_vals))
