"""Response helpers shared by the route modules."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel

from resi.api.schemas import UploadGrant
from resi.api.state import ApiState


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    """A JSON response holding ``model`` serialised by pydantic (ISO datetimes, snake_case)."""
    return web.Response(
        status=status, body=model.model_dump_json().encode(), content_type="application/json"
    )


async def upload_grant(state: ApiState, key: str, expires_at: datetime) -> UploadGrant:
    """Presigned POST for exactly ``key`` (min..max_upload_bytes bytes) until ``expires_at``.

    One grant, one object: the policy names the key (``eq``), so a grant cannot fill the bucket.
    """
    # The issuer rounds the lifetime up to whole seconds; ask for a second less so the policy
    # itself never outlives ``expires_at`` (the epoch deadline for miners).
    post = await state.s3.presigned_post_key(
        key,
        min_bytes=state.settings.min_upload_bytes,
        max_bytes=state.settings.max_upload_bytes,
        expires_at=expires_at - timedelta(seconds=1),
    )
    return UploadGrant(
        url=post.url,
        fields=dict(post.fields),
        key_prefix=post.key_prefix,
        max_bytes=post.max_bytes,
        expires_at=min(post.expires_at, expires_at),
        key=post.key,
    )
