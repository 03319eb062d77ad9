"""docs/flow.md names only routes the API really serves, and every miner/validator route.

A renamed route that the diagram still shows would send readers (and miner authors) to a 404.
"""

from __future__ import annotations

import re
from pathlib import Path

from resi.api.app import route_specs

FLOW = Path(__file__).resolve().parent.parent / "docs" / "flow.md"
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_\-./{}]*)")


def _doc_routes() -> set[tuple[str, str]]:
    return {(m, p) for m, p in ROUTE.findall(FLOW.read_text())}


def _api_routes() -> dict[tuple[str, str], str]:
    return {(r.method, r.path): str(r.role) for r in route_specs()}


def test_every_route_in_the_flow_diagram_exists_in_the_api() -> None:
    named = _doc_routes()
    assert len(named) >= 8, "the diagram should name the routes it shows"
    missing = sorted(named - set(_api_routes()))
    assert not missing, f"docs/flow.md names routes the API does not serve: {missing}"


def test_the_flow_diagram_shows_every_miner_and_validator_route() -> None:
    named = _doc_routes()
    needed = {
        route
        for route, role in _api_routes().items()
        if role.lower().endswith(("miner", "validator"))
    }
    assert needed, "the API should have miner and validator routes"
    assert not sorted(needed - named), f"docs/flow.md does not show: {sorted(needed - named)}"


def test_route_pattern_sees_a_renamed_route() -> None:
    # Guards the guard: the pattern must pick up a typical line of the diagram.
    line = "│◄── GET /api/v1/zipcode-assignments/epoch/{epoch_id} ──┤"
    assert ROUTE.findall(line) == [("GET", "/api/v1/zipcode-assignments/epoch/{epoch_id}")]
