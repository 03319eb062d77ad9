"""The public explorer at `/`: server-rendered HTML pages of epochs, miners and validators."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from resi.api.explorer.cache import ExplorerCache, miner_path
from resi.api.state import state_of

CACHE_KEY: web.AppKey[ExplorerCache] = web.AppKey("resi_explorer", ExplorerCache)
_HEADERS = {
    # No script may run even if escaping ever failed; images and styles only from the page.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "public, max-age=15",
}


async def _serve(request: web.Request, path: str) -> web.Response:
    snap = await request.app[CACHE_KEY].get(state_of(request))
    body = snap.pages.get(path)
    status = 200 if body is not None else 404
    return web.Response(
        status=status,
        body=body if body is not None else snap.not_found,
        content_type="text/html",
        charset="utf-8",
        headers=_HEADERS,
    )


async def index(request: web.Request) -> web.Response:
    return await _serve(request, "/")


async def validators(request: web.Request) -> web.Response:
    return await _serve(request, "/validators")


async def epoch(request: web.Request) -> web.Response:
    return await _serve(request, f"/epoch/{request.match_info['epoch_id']}")


async def miner(request: web.Request) -> web.Response:
    return await _serve(request, miner_path(request.match_info["hotkey"]))


async def _cache_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[CACHE_KEY].close()


def install(app: web.Application) -> None:
    """Add the explorer's GET routes (public, unsigned) and its page cache to ``app``."""
    app[CACHE_KEY] = ExplorerCache()
    app.router.add_get("/", index, name="explorer_index")
    app.router.add_get("/validators", validators, name="explorer_validators")
    app.router.add_get("/epoch/{epoch_id}", epoch, name="explorer_epoch")
    app.router.add_get("/miner/{hotkey}", miner, name="explorer_miner")
    app.cleanup_ctx.append(_cache_ctx)
