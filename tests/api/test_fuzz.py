"""Fuzz every operation of /openapi.json (schemathesis strategies, signed requests): no 5xx.

The server is a real `resi serve-api` subprocess (SQLite, devnet chain, local S3). Requests are
signed with a registered miner or validator so the fuzzed bodies get past auth and reach body
validation and the handlers; error responses must be the JSON error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from bittensor import http_auth
from bittensor.sp_core import Keypair
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core import NOT_SET

from resi.api.app import route_specs
from resi.api.openapi import build_openapi
from resi.chain.devnet import DevnetChain
from resi.s3.local import LocalS3
from tests.api.procs import seed_small_catalog, serve_api_processes, server_env

SCHEMA = schemathesis.openapi.from_dict(build_openapi(route_specs(), version="test"))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
VALIDATOR_TAG = "validator"


class FuzzTarget:
    def __init__(self, url: str, miner: Keypair, validator: Keypair) -> None:
        self.url = url
        self.miner = miner
        self.validator = validator
        self.http = httpx.Client(base_url=url, timeout=30)


@pytest.fixture(scope="module")
def fuzz_target(
    local_s3: LocalS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FuzzTarget]:
    root = tmp_path_factory.mktemp("fuzz")
    db_url = f"sqlite:///{Path(root) / 'resi.db'}"
    miner = Keypair.create_from_uri("//fuzz-miner")
    validator = Keypair.create_from_uri("//fuzz-validator")
    chain = DevnetChain(root / "chain.sqlite", netuid=46, block_time=0.5)
    chain.register(miner.ss58_address, "5cold-m", 1.0, False)
    chain.register(validator.ss58_address, "5cold-v", 1e6, True)
    seed_small_catalog(db_url)
    env = server_env(db_url, local_s3, root / "chain.sqlite", RESI_RATE_LIMIT_PER_MINUTE="1000000")
    with serve_api_processes(env) as (url,):
        target = FuzzTarget(url, miner, validator)
        try:
            yield target
        finally:
            target.http.close()


def _request(target: FuzzTarget, case: Any, tags: list[str]) -> httpx.Response:
    body = b"" if case.body is NOT_SET else json.dumps(case.body).encode()
    headers = {"Content-Type": "application/json"} if body else {}
    request = target.http.build_request(
        case.method, case.formatted_path, params=case.query or None, content=body, headers=headers
    )
    key = target.validator if VALIDATOR_TAG in tags else target.miner
    request.headers.update(
        http_auth.sign(
            key,
            method=request.method,
            path=request.url.raw_path.decode("ascii"),
            body=body,
        )
    )
    return target.http.send(request)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_openapi_fuzz_finds_no_server_errors(fuzz_target: FuzzTarget, data: st.DataObject) -> None:
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    case = data.draw(operation.as_strategy(), label="case")
    tags = operation.definition.raw.get("tags", [])
    response = _request(fuzz_target, case, tags)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "message"}
