"""Every role against every route and every S3 operation, as docs/storage.md's matrix says.

The two tables are parsed from docs/storage.md (markers ``<!-- role-matrix: api -->`` and
``<!-- role-matrix: s3 -->``), so the document and the behaviour cannot drift apart. Each S3
attempt uses the best credential the role can really obtain from the API (its one-object upload
grant, a presigned GET URL from the epoch inputs, else nothing), against the embedded SeaweedFS;
after every refusal the victim's bytes and the keys under the victim's prefix are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from resi.api.client import (
    CURRENT,
    EPOCH_INPUTS,
    FOLDER_ACCESS,
    STATUS,
    VALIDATOR_RESULTS,
    VALIDATOR_UPLOAD,
)
from resi.epoch.models import Commit
from resi.s3.layout import (
    miner_key,
    miner_prefix,
    parse_miner_key,
    validator_key,
    validator_prefix,
)
from tests.api.test_refusals import send
from tests.fixtures.api import ApiServer

pytestmark = pytest.mark.anyio

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"
REPORT = "validation_report.json"


def parse_matrix(name: str) -> dict[str, dict[str, str]]:
    """``{role: {column: cell}}`` of the table after ``<!-- role-matrix: name -->``."""
    text = DOC.read_text()
    marker = f"<!-- role-matrix: {name} -->"
    assert marker in text, f"docs/storage.md lacks {marker}"
    lines = text.split(marker, 1)[1].strip().splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    header, body = rows[0], [r for r in rows[2:]]
    return {r[0]: dict(zip(header[1:], r[1:], strict=True)) for r in body}


ROLES = (
    "anonymous",
    "unregistered key",
    "miner A",
    "miner B",
    "validator without permit",
    "validator",
)


def test_matrix_tables_cover_every_role() -> None:
    for name in ("api", "s3"):
        table = parse_matrix(name)
        assert tuple(table) == ROLES
        assert all(len(cells) >= 5 for cells in table.values())


@dataclass
class World:
    server: ApiServer
    keypairs: dict[str, Any]
    a_done_key: str  # miner A's committed file in the COMPLETED epoch
    a_done_bytes: bytes
    report_key: str
    report_bytes: bytes
    b_active: dict[str, Any]  # miner B's uploaded ACTIVE-epoch commit item


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def _world(server: ApiServer) -> World:
    k = server.keys
    keypairs = {
        "anonymous": None,
        "unregistered key": k.stranger,
        "miner A": k.miner,
        "miner B": k.miner2,
        "validator without permit": k.weak_validator,
        "validator": k.validator,
    }
    done, active = server.epochs.completed, server.epochs.active
    a_bytes = b"PAR1 miner A's committed file PAR1"
    a_key = miner_key(k.miner.ss58_address, done.epoch_id, "10001", _sha(a_bytes))
    await server.s3.put_bytes(a_key, a_bytes)
    commit = Commit(done.epoch_id, k.miner.ss58_address, "10001", a_key, _sha(a_bytes), 3,
                    len(a_bytes), done.deadline - timedelta(hours=1))  # fmt: skip
    await server.store.upsert_commits([commit])
    report_bytes = b'{"report": "original"}'
    report_key = validator_key(k.validator.ss58_address, done.epoch_id, REPORT)
    await server.s3.put_bytes(report_key, report_bytes)
    b_bytes = b"PAR1 miner B's active file PAR1"
    b_key = miner_key(k.miner2.ss58_address, active.epoch_id, "60614", _sha(b_bytes))
    await server.s3.put_bytes(b_key, b_bytes)
    b_item = {"zipcode": "60614", "key": b_key, "sha256": _sha(b_bytes), "rows": 4}
    return World(server, keypairs, a_key, a_bytes, report_key, report_bytes, b_item)


# ------------------------------------------------------------------ API routes


async def _api_cell(w: World, role: str, column: str) -> int:
    s, kp = w.server, w.keypairs[role]
    done, active, pending = s.epochs.completed, s.epochs.active, s.epochs.pending
    me = kp.ss58_address if kp is not None else s.keys.stranger.ss58_address

    def body(obj: dict[str, Any]) -> bytes:
        return json.dumps(obj).encode()

    if column == "current":
        r = await send(s, kp, "GET", CURRENT)
    elif column == "grant own file":
        r = await send(s, kp, "POST", FOLDER_ACCESS, body({"zipcode": "10001", "sha256": "d" * 64}))
    elif column == "commit B's file":
        payload = {"epoch_id": active.epoch_id, "nonce": active.nonce, "status": "IN_PROGRESS",
                   "commits": [w.b_active]}  # fmt: skip
        r = await send(s, kp, "POST", STATUS, body(payload))
    elif column == "epoch inputs":
        r = await send(s, kp, "GET", EPOCH_INPUTS.format(epoch_id=done.epoch_id))
    elif column == "report grant":
        r = await send(s, kp, "POST", VALIDATOR_UPLOAD, body({"epoch_id": done.epoch_id,
                                                               "name": REPORT}))  # fmt: skip
    elif column == "report grant, PENDING":
        r = await send(s, kp, "POST", VALIDATOR_UPLOAD, body({"epoch_id": pending.epoch_id,
                                                               "name": REPORT}))  # fmt: skip
    elif column == "publish result":
        key = validator_key(me, done.epoch_id, REPORT)
        payload = {"epoch_id": done.epoch_id, "consensus_hash": "e" * 64, "report_key": key}
        r = await send(s, kp, "POST", VALIDATOR_RESULTS, body(payload))
    else:
        raise AssertionError(f"unknown API column {column!r}")
    assert r.headers["Content-Type"].startswith("application/json"), r.text
    if r.status_code >= 400:
        assert set(r.json()) == {"error", "message"}
    return r.status_code


async def _written_by(s: ApiServer, hotkey: str) -> tuple[int, int, int]:
    active, done = s.epochs.active, s.epochs.completed
    commits = [c for c in await s.store.list_commits(active.epoch_id) if c.hotkey == hotkey]
    statuses = [m for m in await s.store.miner_statuses(active.epoch_id) if m.hotkey == hotkey]
    results = [
        r for r in await s.store.validator_results(done.epoch_id) if r.validator_hotkey == hotkey
    ]
    return len(commits), len(statuses), len(results)


async def test_api_routes_follow_the_matrix(api_server: ApiServer) -> None:
    w = await _world(api_server)
    expected = parse_matrix("api")
    got: dict[str, dict[str, str]] = {}
    for role in ROLES:
        kp = w.keypairs[role]
        hotkey = kp.ss58_address if kp is not None else ""
        got[role] = {}
        for column, want in expected[role].items():
            before = await _written_by(api_server, hotkey)
            status = await _api_cell(w, role, column)
            got[role][column] = str(status)
            if status >= 400:  # a refusal leaves no trace
                assert await _written_by(api_server, hotkey) == before, (role, column)
            _ = want
    assert got == expected


# ------------------------------------------------------------------ S3 operations


@dataclass
class Creds:
    grant: dict[str, Any] | None  # the role's own one-object upload grant (JSON), if any
    report_grant: dict[str, Any] | None
    get_url: str | None  # a presigned GET URL of A's file, if the role can obtain one


async def _creds(w: World, role: str) -> Creds:
    s, kp = w.server, w.keypairs[role]
    done = s.epochs.completed
    grant = report_grant = get_url = None
    body = json.dumps({"zipcode": "10001", "sha256": secrets.token_hex(32)}).encode()
    r = await send(s, kp, "POST", FOLDER_ACCESS, body)
    if r.status_code == 200:
        grant = r.json()
    body = json.dumps({"epoch_id": done.epoch_id, "name": REPORT}).encode()
    r = await send(s, kp, "POST", VALIDATOR_UPLOAD, body)
    if r.status_code == 200:
        report_grant = r.json()
    r = await send(s, kp, "GET", EPOCH_INPUTS.format(epoch_id=done.epoch_id))
    if r.status_code == 200:
        get_url = next(c["download_url"] for c in r.json()["commits"] if c["key"] == w.a_done_key)
    return Creds(grant, report_grant, get_url)


def _ok(r: httpx.Response) -> str:
    return "ok" if r.is_success else "refused"


async def _post(http: httpx.AsyncClient, url: str, grant: dict[str, Any] | None, key: str,
                data: bytes) -> httpx.Response:  # fmt: skip
    fields = {"key": key, **(grant["fields"] if grant else {})}
    return await http.post(url, data=fields, files={"file": ("f.parquet", data)})


async def _s3_cell(w: World, c: Creds, column: str, http: httpx.AsyncClient) -> str:
    s = w.server
    base = s.settings.s3_endpoint
    bucket = s.settings.s3_bucket
    obj = f"{base}/{bucket}/{w.a_done_key}"
    evil = b"PAR1 EVIL PAR1 " + secrets.token_bytes(8)
    grant = c.grant or c.report_grant
    post_url = grant["url"] if grant else f"{base}/{bucket}"
    if column == "list bucket":
        urls = [f"{base}/{bucket}?list-type=2&prefix=data/"]
        if c.get_url:  # the GET signature reused on the bucket path
            parts = urlsplit(c.get_url)
            urls.append(urlunsplit(parts._replace(path=f"/{bucket}")))
        outcomes = [_ok(await http.get(u)) for u in urls]
        return "ok" if "ok" in outcomes else "refused"
    if column == "GET A's file":
        r = await http.get(c.get_url or obj)
        return "ok" if r.is_success and r.content == w.a_done_bytes else "refused"
    if column == "POST new key in A's prefix":
        prefix = miner_prefix(s.keys.miner.ss58_address, s.epochs.active.epoch_id)
        key = f"{prefix}zipcode=94110/{secrets.token_hex(32)}.parquet"
        r = await _post(http, post_url, grant, key, evil)
        put = await http.put(f"{base}/{bucket}/{key}", content=evil)
        assert await s.s3.head(key) is None or r.is_success or put.is_success
        return "ok" if r.is_success or put.is_success else "refused"
    if column == "overwrite A's file":
        r = await _post(http, post_url, grant, w.a_done_key, evil)
        put = await http.put(obj, content=evil)
        return "ok" if r.is_success or put.is_success else "refused"
    if column == "DELETE A's file":
        outcomes = [_ok(await http.delete(obj))]
        if c.get_url:
            outcomes.append(_ok(await http.delete(c.get_url)))
        return "ok" if "ok" in outcomes else "refused"
    if column == "overwrite report":
        new = b'{"report": "' + secrets.token_hex(4).encode() + b'"}'
        g = c.report_grant or c.grant
        url = g["url"] if g else f"{base}/{bucket}"
        r = await _post(http, url, g, w.report_key, new)
        if r.is_success:
            w.report_bytes = new  # the owner's rewrite is the new truth
        return _ok(r)
    if column == "DELETE report":
        return _ok(await http.delete(f"{base}/{bucket}/{w.report_key}"))
    raise AssertionError(f"unknown S3 column {column!r}")


async def _snapshot(w: World) -> tuple[bytes, bytes, list[str]]:
    s = w.server
    keys = [o.key async for o in s.s3.list_keys("data/hotkey=" + s.keys.miner.ss58_address + "/")]
    vkeys = [
        o.key
        async for o in s.s3.list_keys(
            validator_prefix(s.keys.validator.ss58_address, s.epochs.completed.epoch_id)
        )
    ]
    return await s.s3.get_bytes(w.a_done_key), await s.s3.get_bytes(w.report_key), keys + vkeys


async def test_s3_operations_follow_the_matrix(api_server: ApiServer) -> None:
    w = await _world(api_server)
    expected = parse_matrix("s3")
    got: dict[str, dict[str, str]] = {}
    async with httpx.AsyncClient(timeout=20) as http:
        for role in ROLES:
            creds = await _creds(w, role)
            got[role] = {}
            for column in expected[role]:
                before = await _snapshot(w)
                got[role][column] = await _s3_cell(w, creds, column, http)
                after = await _snapshot(w)
                if got[role][column] == "refused":
                    assert after == before, (role, column)
                else:
                    assert after[0] == w.a_done_bytes  # nobody's "ok" touches A's file
    assert got == expected
    # The victim's file still verifies: the validator would not see HASH_MISMATCH.
    assert _sha(await api_server.s3.get_bytes(w.a_done_key)) == _sha(w.a_done_bytes)
    assert re.fullmatch(r"[0-9a-f]{64}", parse_miner_key(w.a_done_key).sha256)
