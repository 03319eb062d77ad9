"""Route specifications: one table that drives routing, auth policy, body parsing and OpenAPI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Role(StrEnum):
    PUBLIC = "public"  # no signature needed
    MINER = "miner"  # signed, hotkey registered on the subnet
    VALIDATOR = "validator"  # signed, registered, validator permit and enough stake


@dataclass(frozen=True)
class RouteSpec:
    name: str  # route label in metrics and rate-limit buckets
    method: str
    path: str
    role: Role
    handler: Handler
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    content_type: str = "application/json"
    path_params: tuple[str, ...] = ()
    errors: tuple[int, ...] = ()


SPECS_KEY: web.AppKey[dict[str, RouteSpec]] = web.AppKey("resi_api_specs", dict)


def spec_for(request: web.Request) -> RouteSpec | None:
    """The RouteSpec of the matched route, or None for unmatched (404/405) requests."""
    name = request.match_info.route.name
    if name is None:
        return None
    return request.app[SPECS_KEY].get(name)
