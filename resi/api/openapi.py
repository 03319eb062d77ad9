"""The OpenAPI 3.1 document, generated from the route table and the pydantic wire schemas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from resi.api.schemas import ErrorBody
from resi.api.spec import Role, RouteSpec

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Malformed request (bad JSON, wrong nonce, unknown epoch, missing object)",
    401: "Authentication failed (btauth/1)",
    403: "Not registered, not a validator, or foreign S3 prefix",
    404: "Not found",
    409: "Epoch not in the right state",
    413: "Body too large",
    422: "Body does not match the schema",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable; retry",
}
_AUTH_HEADERS = (
    "X-Bittensor-Version",
    "X-Bittensor-Hotkey",
    "X-Bittensor-Nonce",
    "X-Bittensor-Signature",
)


def _collect(models: Sequence[type[BaseModel]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=_REF)
        for name, sub in schema.pop("$defs", {}).items():
            schemas[name] = sub
        schemas[model.__name__] = schema
    return schemas


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.name,
        "summary": spec.summary,
        "tags": [spec.role.value],
        "parameters": [
            {
                "name": p,
                "in": "path",
                "required": True,
                "schema": {
                    "type": "string",
                    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}-[0-9]{2}-[0-9]{2}$",
                },
            }
            for p in spec.path_params
        ],
        "responses": {},
    }
    if spec.response is not None:
        op["responses"]["200"] = {"description": "OK", "content": _json(spec.response)}
    else:
        op["responses"]["200"] = {
            "description": "OK",
            "content": {spec.content_type: {"schema": {"type": "string"}}},
        }
    if spec.request is not None:
        op["requestBody"] = {"required": True, "content": _json(spec.request)}
    codes = set(spec.errors)
    if spec.role is not Role.PUBLIC:
        codes |= {401, 403, 413, 429, 503}
        op["security"] = [{"btauth": []}]
        if spec.request is not None:
            codes |= {400, 422}
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": _ERROR_TEXT.get(code, "Error"),
            "content": _json(ErrorBody),
        }
    return op


def build_openapi(specs: Sequence[RouteSpec], *, version: str) -> dict[str, Any]:
    """The OpenAPI document for ``specs`` (every route, every request/response schema)."""
    models: list[type[BaseModel]] = [ErrorBody]
    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        models += [m for m in (spec.request, spec.response) if m is not None]
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "resi API",
            "version": version,
            "description": "Epochs, assignments, commits and S3 grants of the resi subnet. "
            "Signed routes use btauth/1 headers: " + ", ".join(_AUTH_HEADERS) + ".",
        },
        "paths": paths,
        "components": {
            "schemas": _collect(models),
            "securitySchemes": {
                "btauth": {"type": "apiKey", "in": "header", "name": "X-Bittensor-Signature"}
            },
        },
    }
