"""The signed assignment document: round trip, and every tampering a relay could try fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bittensor.sp_core import Keypair

from resi.api.assignment_doc import (
    SignedAssignment,
    canonical_bytes,
    is_current,
    public_document,
    sign_assignment,
    verify_assignment,
)
from resi.api.schemas import CurrentAssignment
from resi.errors import SignatureError

API = Keypair.create_from_uri("//resi-relay-test-api")
OTHER = Keypair.create_from_uri("//resi-relay-test-forger")
START = datetime(2030, 1, 1, 12, tzinfo=UTC)


def assignment() -> CurrentAssignment:
    return CurrentAssignment(
        epoch_id="2030-01-01T12-00-00",
        start=START,
        end=START + timedelta(hours=4),
        deadline=START + timedelta(hours=3, minutes=30),
        nonce="ab" * 16,
        target=10_000,
        tolerance=0.1,
        zipcodes=[
            {"zipcode": z, "expected_listings": n, "state": "NY", "city": "C", "county": "K",
             "market_tier": "STANDARD", "region": "Northeast"}
            for z, n in (("10001", 300), ("60614", 400))
        ],
    )  # fmt: skip


def tampered(signed: SignedAssignment, **changes: Any) -> SignedAssignment:
    return signed.model_copy(update={"document": {**signed.document, **changes}})


def test_signature_round_trip_returns_the_assignment() -> None:
    signed = sign_assignment(assignment(), API)
    assert signed.api_hotkey == API.ss58_address
    assert verify_assignment(signed, API.ss58_address) == assignment()
    # The wire form (JSON) verifies too: what a relay passes on verbatim.
    wire = SignedAssignment.model_validate_json(signed.model_dump_json())
    assert verify_assignment(wire, API.ss58_address).epoch_id == "2030-01-01T12-00-00"


def test_honeypot_flags_never_enter_the_document() -> None:
    doc = assignment().model_dump(mode="json")
    doc["zipcodes"][0]["honeypot"] = True
    signed = sign_assignment(doc, API)
    assert "honeypot" not in canonical_bytes(signed.document).decode()
    assert set(signed.document) == set(CurrentAssignment.model_fields)


def test_canonical_bytes_ignore_key_order() -> None:
    doc = public_document(assignment())
    assert canonical_bytes(doc) == canonical_bytes(dict(reversed(list(doc.items()))))


def test_changed_zipcode_is_rejected() -> None:
    signed = sign_assignment(assignment(), API)
    zips = [dict(z) for z in signed.document["zipcodes"]]
    zips[0]["zipcode"] = "94110"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_assignment(tampered(signed, zipcodes=zips), API.ss58_address)


def test_changed_nonce_is_rejected() -> None:
    signed = sign_assignment(assignment(), API)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_assignment(tampered(signed, nonce="cd" * 16), API.ss58_address)


def test_extended_deadline_is_rejected() -> None:
    signed = sign_assignment(assignment(), API)
    later = (START + timedelta(hours=4)).isoformat()
    with pytest.raises(SignatureError):
        verify_assignment(tampered(signed, deadline=later), API.ss58_address)


def test_document_signed_by_another_key_is_rejected() -> None:
    forged = sign_assignment(assignment(), OTHER)
    with pytest.raises(SignatureError, match="another key"):
        verify_assignment(forged, API.ss58_address)
    # Claiming the API's hotkey while signing with another key fails on the signature.
    claimed = forged.model_copy(update={"api_hotkey": API.ss58_address})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_assignment(claimed, API.ss58_address)


@pytest.mark.parametrize("signature", ["0xzz", "0x1234", ""])
def test_malformed_signature_is_a_signature_error(signature: str) -> None:
    signed = sign_assignment(assignment(), API).model_copy(update={"signature": signature})
    with pytest.raises(SignatureError):
        verify_assignment(signed, API.ss58_address)


def test_is_current_is_the_epoch_window() -> None:
    a = assignment()
    assert is_current(a, START) and is_current(a, a.end - timedelta(seconds=1))
    assert not is_current(a, a.end) and not is_current(a, START - timedelta(seconds=1))
