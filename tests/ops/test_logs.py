"""Structured logging: JSON line shape, bound context on every line, and no secrets in logs."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from resi.config import ApiServerSettings
from resi.logs import (
    REDACTED,
    bind,
    bind_context,
    clear_secrets,
    configure_logging,
    configure_logging_from,
    get_context,
    redact,
    reset_context,
)
from resi.s3.issuer import S3Issuer


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was (configure_logging changes process-wide state)."""
    root = logging.getLogger()
    resi = logging.getLogger("resi")
    handlers, level, resi_level = list(root.handlers), root.level, resi.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(level)
        resi.setLevel(resi_level)
        clear_secrets()


def json_lines(buf: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buf.getvalue().splitlines() if line.strip()]


def test_json_lines_have_ts_level_logger_msg_and_extras(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buf)
    logging.getLogger("resi.test").info("hello %s", "world", extra={"zipcodes": 3})
    logging.getLogger("resi.test").debug("details")
    (first, second) = json_lines(buf)
    assert first["msg"] == "hello world"
    assert first["level"] == "INFO"
    assert first["logger"] == "resi.test"
    assert first["zipcodes"] == 3
    assert first["ts"].endswith("+00:00")
    assert second["level"] == "DEBUG"


def test_exception_is_one_json_line_with_redacted_traceback(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    try:
        raise RuntimeError("boom password=hunter2hunter2")
    except RuntimeError:
        logging.getLogger("resi.test").exception("failed")
    (line,) = json_lines(buf)
    assert "RuntimeError" in line["exc"]
    assert "hunter2hunter2" not in buf.getvalue()


def test_bound_context_on_every_line_including_other_loggers(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    with bind(epoch_id="2030-01-01T12-00-00", hotkey="5Hot"):
        logging.getLogger("resi.a").info("one")
        with bind(request_id="r-1"):
            logging.getLogger("some.library").warning("two")
        logging.getLogger("resi.b").info("three")
    logging.getLogger("resi.c").info("after")
    one, two, three, after = json_lines(buf)
    for line in (one, two, three):
        assert line["epoch_id"] == "2030-01-01T12-00-00"
        assert line["hotkey"] == "5Hot"
    assert two["request_id"] == "r-1"
    assert "request_id" not in three
    assert "epoch_id" not in after


@pytest.mark.anyio
async def test_context_is_per_task() -> None:
    seen: dict[str, Any] = {}

    async def worker(name: str) -> None:
        with bind(hotkey=name):
            await anyio.sleep(0.01)
            seen[name] = get_context()["hotkey"]

    async with anyio.create_task_group() as tg:
        tg.start_soon(worker, "alice")
        tg.start_soon(worker, "bob")
    assert seen == {"alice": "alice", "bob": "bob"}
    assert get_context() == {}


def test_bind_context_token_for_middlewares() -> None:
    token = bind_context(request_id="abc", hotkey=None)
    assert get_context() == {"request_id": "abc"}
    reset_context(token)
    assert get_context() == {}


def test_text_format_carries_context(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=False, stream=buf)
    with bind(epoch_id="E1"):
        logging.getLogger("resi.t").info("committed %d", 4)
    assert "INFO resi.t: committed 4 epoch_id=E1" in buf.getvalue()


def test_third_party_info_is_quiet_but_resi_info_is_not(restore_logging: None) -> None:
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    logging.getLogger("httpx").info("HTTP Request: GET http://x")
    logging.getLogger("resi.x").info("ours")
    assert [line["msg"] for line in json_lines(buf)] == ["ours"]


def test_reconfiguring_replaces_the_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", json=True, stream=first)
    configure_logging("INFO", json=True, stream=second)
    logging.getLogger("resi.x").info("once")
    assert first.getvalue() == ""
    assert len(json_lines(second)) == 1


async def _presigned() -> tuple[str, dict[str, str], str, str]:
    access, secret = "AKIA" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    # Presigning is local computation: the endpoint is never contacted.
    issuer = S3Issuer(
        endpoint="http://127.0.0.1:9",
        bucket="resi-data",
        region="us-east-1",
        access_key=access,
        secret_key=secret,
        addressing_style="path",
    )
    async with issuer:
        url = await issuer.presigned_get("validators/5X/epoch=E/report.json", expires_in=600)
        client = issuer.client
        post = await client.generate_presigned_post(
            Bucket="resi-data", Key="data/hotkey=5X/f.parquet", ExpiresIn=600
        )
    return url, post["fields"], access, secret


@pytest.mark.anyio
async def test_presigned_url_and_post_fields_are_redacted_from_logs(
    restore_logging: None,
) -> None:
    """A leaked presigned URL lets anyone read (or write) the object until it expires."""
    url, fields, access, _ = await _presigned()
    assert "X-Amz-Signature=" in url
    buf = io.StringIO()
    configure_logging("INFO", json=True, stream=buf)
    log = logging.getLogger("resi.s3.test")
    log.info("downloading %s", url)
    log.info("grant %s", fields)
    log.info("grant", extra={"fields": fields})
    out = buf.getvalue()
    signature = url.split("X-Amz-Signature=")[1].split("&")[0]
    assert signature not in out
    assert access not in out
    assert fields["policy"] not in out
    assert fields["x-amz-signature"] not in out
    # The object's location stays useful for debugging.
    assert "report.json?" + REDACTED in out


def test_secret_key_from_settings_never_reaches_the_log(restore_logging: None) -> None:
    secret = secrets.token_urlsafe(30)
    server_secret = secrets.token_hex(16)
    password = secrets.token_hex(8)
    settings = ApiServerSettings(
        s3_secret_key=secret,
        secret=server_secret,
        db_url=f"postgresql://resi:{password}@db.internal:5432/resi",
    )
    buf = io.StringIO()
    configure_logging_from(settings, stream=buf)
    log = logging.getLogger("resi.test")
    log.warning("settings: %r", settings)
    log.warning("bare value %s and %s", secret, server_secret)
    log.warning("connecting to postgresql://resi:%s@db.internal:5432/resi", password)
    out = buf.getvalue()
    for value in (secret, server_secret, password):
        assert value not in out
    assert "db.internal" in out


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("aws_secret_access_key=abcdEFGH1234/xyz", "abcdEFGH1234"),
        ("{'s3_secret_key': 'k3y-v4lue-123'}", "k3y-v4lue-123"),
        ('{"Policy": "eyJleHBpcmF0aW9uIjoi"}', "eyJleHBpcmF0aW9uIjoi"),
        ("X-Bittensor-Signature: 0xdeadbeefcafe", "0xdeadbeefcafe"),
        ("https://b.s3.amazonaws.com/k?Signature=abc123&Expires=1", "abc123"),
        ("socks5://user:pr0xyp4ss@proxy.example:1080", "pr0xyp4ss"),
    ],
)
def test_redact_removes_secret_values(text: str, leak: str) -> None:
    out = redact(text)
    assert leak not in out
    assert REDACTED in out


def test_redact_keeps_ordinary_text_and_plain_urls() -> None:
    text = "GET http://127.0.0.1:8000/api/v1/stats?epoch=2030 -> 200 signature_version=s3v4"
    assert redact(text) == text
