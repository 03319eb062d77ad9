"""Object-store health check for `resi health` and the API's ``/health``."""

from __future__ import annotations

from resi.s3.issuer import S3Issuer


async def check_object_store(issuer: S3Issuer) -> tuple[bool, str]:
    """``(ok, one-line detail)``: reachable, bucket exists, probe object written/read/deleted.

    ``issuer`` must be open (inside ``async with``). Never raises for store problems.
    """
    result = await issuer.probe()
    where = issuer.endpoint or "AWS S3"
    if not result.reachable:
        return False, f"object store at {where} unreachable: {result.detail}"
    return result.ok, f"{where}: {result.detail}"
