"""Relay fixtures: the test API (tests.fixtures.api) started with its own signing hotkey."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bittensor.sp_core import Keypair

from resi.api.app import create_app
from resi.chain.devnet import DevnetChain
from resi.epoch.store.base import open_store
from resi.s3.issuer import S3Issuer
from resi.s3.local import LocalS3
from tests.fixtures.api import (
    NETUID,
    ApiServer,
    Clock,
    api_settings,
    make_keys,
    register_keys,
    seed_epochs,
)


@dataclass
class SigningApi:
    server: ApiServer
    keypair: Any  # the API's own hotkey: it signs the assignment documents

    @property
    def hotkey(self) -> str:
        return str(self.keypair.ss58_address)


@contextlib.asynccontextmanager
async def start_signing_api(
    db_url: str, local_s3: LocalS3, tmp_path: Path, *, keypair: Any | None = None
) -> AsyncIterator[SigningApi]:
    """Like ``tests.fixtures.api.start_api``, but the app holds ``keypair`` (fresh by default)."""
    keypair = keypair or Keypair.create_from_uri("//api-" + secrets.token_hex(8))
    settings = api_settings(db_url, local_s3, tmp_path)
    clock = Clock()
    keys = make_keys()
    chain = DevnetChain(settings.devnet_chain_path, netuid=NETUID, block_time=0.5, timeout=10.0)
    register_keys(chain, keys)
    store = await open_store(db_url)
    try:
        epochs = await seed_epochs(store, clock())
        async with S3Issuer.from_settings(settings, timeout=10.0) as s3:
            app = create_app(settings, store=store, chain=chain, s3=s3, now=clock, keypair=keypair)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                host, port = runner.addresses[0][:2]
                server = ApiServer(
                    f"http://{host}:{port}", app, store, chain, s3, clock, keys, epochs, settings
                )
                yield SigningApi(server, keypair)
            finally:
                await runner.cleanup()
    finally:
        await chain.close()
        await store.close()


@pytest.fixture
def signing_api_factory(
    local_s3: LocalS3, tmp_path: Path
) -> Callable[..., AbstractAsyncContextManager[SigningApi]]:
    """``async with signing_api_factory(db_url) as api`` (optionally ``keypair=``)."""

    def factory(db_url: str, **kwargs: Any) -> AbstractAsyncContextManager[SigningApi]:
        return start_signing_api(db_url, local_s3, tmp_path, **kwargs)

    return factory


@pytest.fixture
async def signing_api(
    signing_api_factory: Callable[..., AbstractAsyncContextManager[SigningApi]],
    sqlite_url: str,
    anyio_backend: str,
) -> AsyncIterator[SigningApi]:
    async with signing_api_factory(sqlite_url) as api:
        yield api
