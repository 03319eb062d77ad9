"""The devnet's local attacker: tries every storage bypass of issue 13 and reports what worked.

A registered miner on the same host as the object store, aiming at a victim miner's committed
files: raw GET/POST/PUT/DELETE to every port of the local SeaweedFS process (``weed mini``)
serving the bucket, its own one-object grant replayed on the victim's key, and grant requests
that name another hotkey or key or widen the policy. ``try_bypasses`` returns an ``AttackReport``;
the ``attacker`` scenario behaviour (``resi.devnet.scenarios``) logs it as an ``attack`` event.
A correct deployment reports ``achieved == []`` and every victim file intact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from bittensor import http_auth

from resi.api.client import FOLDER_ACCESS, ApiClient
from resi.s3.bypass import attack_paths, probe_ports, weed_pids
from resi.s3.layout import miner_key
from resi.s3.local import listening_ports


@dataclass
class AttackReport:
    """How many tries were made and which ones got through (empty = nothing achieved)."""

    tries: int = 0
    achieved: list[str] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"tries": self.tries, "achieved": self.achieved, "ports": self.ports})


async def try_bypasses(
    api: ApiClient,
    api_url: str,
    http: httpx.AsyncClient,
    keypair: Any,
    epoch_id: str,
    victim_hotkey: str,
    victim_files: Sequence[tuple[str, Path]],
) -> AttackReport:
    """Attack each ``(zipcode, file)`` the victim committed in ``epoch_id``; returns the report.

    ``api_url``/``keypair`` send and sign the hand-made grant requests (the attacker's own,
    registered hotkey). Never raises for refusals: they are the expected outcome.
    """
    report = AttackReport()
    for zipcode, path in victim_files:
        content = await anyio.to_thread.run_sync(path.read_bytes)
        key = miner_key(victim_hotkey, epoch_id, zipcode, hashlib.sha256(content).hexdigest())
        own = await api.folder_access(epoch_id, zipcode, secrets.token_hex(32))
        bucket = urlsplit(own.url).path.strip("/")
        # 1. Raw requests to every port of every local weed process.
        s3_port = urlsplit(own.url).port
        ports = sorted({p for pid in weed_pids(s3_port) for p in listening_ports(pid)})
        report.ports = ports
        probe = functools.partial(
            probe_ports, "127.0.0.1", ports, attack_paths(bucket, key), secret=content
        )
        attempts = await anyio.to_thread.run_sync(probe)
        report.tries += len(attempts)
        report.achieved += [
            f"{a.method} :{a.port}{a.path} -> {a.status}" for a in attempts if a.achieved
        ]
        # 2. The attacker's own one-object grant, replayed on the victim's key.
        report.tries += 1
        fields = {"key": key, **own.fields}
        evil = b"PAR1" + secrets.token_bytes(32) + b"PAR1"
        try:
            r = await http.post(own.url, data=fields, files={"file": ("f.parquet", evil)})
            if r.is_success:
                report.achieved.append(f"own grant overwrote {key} ({r.status_code})")
        except httpx.HTTPError:
            pass
        # 3. Grant requests naming someone else, another epoch, or widening the policy.
        for extra in (
            {"hotkey": victim_hotkey},
            {"key": key},
            {"key_prefix": key.rsplit("/", 1)[0] + "/"},
            {"max_bytes": 10**12},
        ):
            report.tries += 1
            body = json.dumps(
                {"epoch_id": epoch_id, "zipcode": zipcode, "sha256": "f" * 64, **extra}
            ).encode()
            headers = http_auth.sign(keypair, method="POST", path=FOLDER_ACCESS, body=body)
            headers["Content-Type"] = "application/json"
            r = await http.post(api_url.rstrip("/") + FOLDER_ACCESS, content=body, headers=headers)
            if r.is_success:
                report.achieved.append(f"grant request with {sorted(extra)} accepted")
    return report
