"""The signed public assignment document: what `/current` says, signed by the API's hotkey.

When the API is unreachable, miners may get the current assignment from a validator relay
(``resi.validate.relay``). A relay is not trusted: it hands over the document verbatim and the
miner accepts it only if the API's own sr25519 signature over the canonical bytes verifies for
the API hotkey the miner was configured with. The document is exactly the public content of
`/current` (epoch id, start, end, deadline, nonce, target, tolerance, zipcodes) and never carries
honeypot flags: it is built through the miners' wire schema, which has no such field.

Canonical bytes are JSON with sorted keys and no spaces (UTF-8); the signed message is a domain
prefix plus those bytes, so a document signature can never double as any other signature.
Pure: no I/O; ``bittensor`` is imported lazily (it costs ~0.5 s).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from resi.api.schemas import CurrentAssignment
from resi.errors import SignatureError

SIGNING_DOMAIN = b"resi-assignment/1\n"
DERIVED_KEY_DOMAIN = b"resi-assignment-signing-key/1"
_SR25519 = 1


class SigningKeypair(Protocol):
    """What signing needs from a keypair (``bittensor.sp_core.Keypair`` / ``wallet.hotkey``)."""

    ss58_address: str

    def sign(self, data: bytes) -> bytes: ...


class SignedAssignment(BaseModel):
    """`GET /api/v1/zipcode-assignments/signed` and the relay's answer, passed on verbatim.

    ``document`` is the JSON object of a ``CurrentAssignment``; ``signature`` is the 0x-hex
    sr25519 signature of ``SIGNING_DOMAIN + canonical_bytes(document)`` by ``api_hotkey``.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    document: dict[str, Any]
    api_hotkey: str
    signature: str


def public_document(assignment: CurrentAssignment | Mapping[str, Any]) -> dict[str, Any]:
    """The public JSON object of an assignment (only ``CurrentAssignment`` fields survive).

    Raises ``SignatureError`` when ``assignment`` is not a valid assignment.
    """
    try:
        model = (
            assignment
            if isinstance(assignment, CurrentAssignment)
            else CurrentAssignment.model_validate(dict(assignment))
        )
    except ValidationError:
        raise SignatureError("not a valid assignment document") from None
    return model.model_dump(mode="json")


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """Sorted-key, space-free UTF-8 JSON of ``document`` (what the signature covers)."""
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def signing_message(document: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed: the domain prefix plus the canonical document."""
    return SIGNING_DOMAIN + canonical_bytes(document)


def derived_signing_keypair(secret: str) -> Any:
    """The API's document-signing keypair when it has no wallet: derived from the server secret.

    Every replica holds the secret, so every replica signs with the same key and nothing new has
    to be stored or distributed; the seed is an HMAC of the secret, so the public key reveals
    nothing about it. Miners learn the key from the API on first contact
    (``resi.scrape.relay_client``).
    """
    from bittensor.sp_core import Keypair

    seed = hmac.new(secret.encode("utf-8"), DERIVED_KEY_DOMAIN, hashlib.sha256).digest()
    return Keypair.create_from_seed(seed)


def sign_assignment(
    doc: CurrentAssignment | Mapping[str, Any], keypair: SigningKeypair
) -> SignedAssignment:
    """Sign the public document of ``doc`` with ``keypair`` (the API's hotkey)."""
    document = public_document(doc)
    signature = keypair.sign(signing_message(document))
    return SignedAssignment(
        document=document,
        api_hotkey=str(keypair.ss58_address),
        signature="0x" + bytes(signature).hex(),
    )


def verify_assignment(signed: SignedAssignment, expected_api_hotkey: str) -> CurrentAssignment:
    """The assignment inside ``signed`` once the API's signature over it verifies.

    Raises ``SignatureError`` when the signer is not ``expected_api_hotkey``, the signature is
    malformed or does not match the document (any changed field), or the signed document is not
    a valid assignment.
    """
    if signed.api_hotkey != expected_api_hotkey:
        raise SignatureError("assignment is signed by another key than the API's hotkey")
    raw = signed.signature.removeprefix("0x")
    try:
        signature = bytes.fromhex(raw)
    except ValueError:
        raise SignatureError("assignment signature is not hex") from None
    try:
        message = signing_message(signed.document)
    except (TypeError, ValueError):
        raise SignatureError("assignment document is not canonical JSON") from None
    from bittensor.sp_core import verify

    try:
        ok = verify(message, signature, expected_api_hotkey, crypto_type=_SR25519)
    except (TypeError, ValueError):
        raise SignatureError("assignment signature or API hotkey is malformed") from None
    if not ok:
        raise SignatureError("assignment signature does not verify for the API's hotkey")
    try:
        return CurrentAssignment.model_validate(signed.document)
    except ValidationError:
        raise SignatureError("signed document is not a valid assignment") from None


def is_current(assignment: CurrentAssignment, now: datetime) -> bool:
    """True when ``now`` lies inside the assignment's epoch window (start ≤ now < end)."""
    return assignment.start <= now < assignment.end
