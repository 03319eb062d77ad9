"""Headless Chromium (Debian's package) driven over the DevTools protocol with aiohttp.

``Browser.open`` starts chromium with a throw-away profile and a DevTools port it picks itself,
then ``load`` navigates one tab, waits for the load event and returns the DOM, the console errors
and a PNG screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--window-size=1200,1500",
)  # fmt: skip
START_TIMEOUT = 120.0


@dataclass
class Loaded:
    dom: str
    errors: list[str]
    png: bytes


@dataclass
class Browser:
    ws: aiohttp.ClientWebSocketResponse
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    events: list[dict[str, Any]] = field(default_factory=list)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command; collect events until its reply. Returns the result."""
        msg_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result
            self.events.append(msg)

    async def wait_event(self, method: str) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("method") == method:
                return msg
            self.events.append(msg)

    def console_errors(self) -> list[str]:
        errors = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(str(params["entry"].get("text")))
        return errors

    async def load(self, url: str) -> Loaded:
        self.events.clear()
        await self.call("Page.navigate", url=url)
        await self.wait_event("Page.loadEventFired")
        dom = await self.call(
            "Runtime.evaluate", expression="document.documentElement.outerHTML", returnByValue=True
        )
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        return Loaded(dom["result"]["value"], self.console_errors(), base64.b64decode(shot["data"]))


def chromium_path() -> str | None:
    return shutil.which("chromium")


@asynccontextmanager
async def open_browser(profile: Path) -> AsyncIterator[Browser]:
    """A headless chromium with one page tab under DevTools control (killed on exit)."""
    exe = chromium_path()
    assert exe is not None, "install Debian's chromium (apt-get install -y chromium)"
    proc = await anyio.open_process(
        [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        # Chromium announces its port by writing this file; nothing else signals readiness.
        with anyio.fail_after(START_TIMEOUT):
            while not (port_file.is_file() and port_file.read_text().strip()):
                assert proc.returncode is None, f"chromium exited with {proc.returncode}"
                await anyio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                browser = Browser(ws)
                for domain in ("Page", "Runtime", "Log"):
                    await browser.call(f"{domain}.enable")
                yield browser
    finally:
        proc.kill()
        await proc.wait()
