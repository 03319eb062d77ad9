"""Per-epoch secrets derived from the server secret with HMAC-SHA256 (DESIGN §5, §8).

``epoch_nonce`` follows DESIGN §5 exactly: HMAC(secret, epoch_id), the message being the bare
epoch id. (The issue text suggested ``epoch_id:nonce``; the DESIGN contract wins, and the bare id
cannot collide with the ``:validation`` / ``:selection`` labels because ids contain no colon.)
"""

from __future__ import annotations

import hashlib
import hmac

from resi.errors import ConfigError

DEVNET_SECRET = "resi-devnet-insecure-secret"


def _hmac(secret: str, message: str) -> str:
    if not secret:
        raise ConfigError("the server secret is empty")
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def epoch_nonce(secret: str, epoch_id: str) -> str:
    """First 32 hex chars of HMAC-SHA256(secret, epoch_id): revealed with the assignment."""
    return _hmac(secret, epoch_id)[:32]


def validation_seed(secret: str, epoch_id: str) -> str:
    """HMAC-SHA256(secret, ``{epoch_id}:validation``) as 64 hex chars.

    Revealed only once the epoch is COMPLETED, so miners cannot grind their files against the
    tier-3 sample.
    """
    return _hmac(secret, f"{epoch_id}:validation")


def selection_seed(secret: str, epoch_id: str) -> int:
    """Integer seed of the epoch's zipcode selection: HMAC(secret, ``{epoch_id}:selection``).

    Kept apart from the nonce so the revealed nonce tells nothing about the selection PRNG.
    """
    return int(_hmac(secret, f"{epoch_id}:selection"), 16)


def require_secret(secret: str | None, network: str) -> str:
    """The secret to use: refuses to run without one outside devnet (raises ``ConfigError``)."""
    if secret:
        return secret
    if network == "devnet":
        return DEVNET_SECRET
    raise ConfigError("a server secret is required outside devnet (--secret / RESI_SECRET)")
