"""Process-wide logging for every resi role: text or JSON lines, bound context, secret redaction.

A command calls ``configure_logging(level, json)`` once at start-up (nothing happens on import).
Code that knows *which* epoch, hotkey or request it is working on wraps that work in
``with bind(epoch_id=..., hotkey=...):``; every line logged inside (from any logger, in the
same task or thread context) carries those fields. Before a line is written, the message, its
arguments and any exception text pass through ``redact``, which strips presigned-URL query
strings, ``secret=...``-style values, passwords in database URLs and every secret value the
process registered with ``register_secret`` (or passed to ``configure_logging``).
"""

from __future__ import annotations

import json as jsonlib
import logging
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

__all__ = [
    "REDACTED",
    "ContextFilter",
    "JsonFormatter",
    "RedactingFilter",
    "TextFormatter",
    "bind",
    "bind_context",
    "clear_secrets",
    "configure_logging",
    "configure_logging_from",
    "get_context",
    "redact",
    "register_secret",
    "reset_context",
]

REDACTED = "[REDACTED]"

# Fields of ``logging.LogRecord`` itself; anything else on a record came from ``extra=``.
_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "resi_context"}
)
_RESI_HANDLER = "_resi_handler"

_CONTEXT: ContextVar[Mapping[str, Any]] = ContextVar(
    "resi_log_context", default=MappingProxyType({})
)

# --------------------------------------------------------------------------- context


def get_context() -> dict[str, Any]:
    """A copy of the fields bound in the current context (empty when none)."""
    return dict(_CONTEXT.get())


def bind_context(**fields: Any) -> Token[Mapping[str, Any]]:
    """Add ``fields`` to the current context until ``reset_context(token)``; None values unbind.

    For code that cannot use a ``with`` block (e.g. an aiohttp middleware around ``handler``).
    """
    merged = {**_CONTEXT.get(), **fields}
    return _CONTEXT.set(MappingProxyType({k: v for k, v in merged.items() if v is not None}))


def reset_context(token: Token[Mapping[str, Any]]) -> None:
    """Restore the context that was current before ``bind_context`` returned ``token``."""
    _CONTEXT.reset(token)


@contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """``with bind(epoch_id=..., hotkey=..., request_id=...):`` — fields on every line inside.

    Nested binds merge (inner values win) and are undone on exit. Async tasks started inside
    inherit the fields (contextvars are copied into new tasks).
    """
    token = bind_context(**fields)
    try:
        yield
    finally:
        reset_context(token)


# --------------------------------------------------------------------------- redaction

_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()
# Shorter values would redact ordinary words; real secrets are long.
_MIN_SECRET_LEN = 6

# Names whose values are secret wherever they appear as key=value, key: value or "key": "value".
_SENSITIVE_NAMES = (
    r"x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"awsaccesskeyid|signature|policy|"
    r"x-bittensor-signature|"
    r"(?:aws_)?secret(?:_access)?(?:_key)?|s3_secret_key|s3_access_key|access_key(?:_id)?|"
    r"password|passwd|token|api_key|apikey|authorization|credentials?"
)
_KEY_VALUE = re.compile(
    r"""(?P<key>["']?(?<![\w-])(?:"""
    + _SENSITIVE_NAMES
    + r""")["']?)(?P<sep>\s*[=:]\s*)(?P<q>["'])?(?P<value>(?(q)[^"'\n]*|[^\s&,;)}\]"']+))""",
    re.IGNORECASE,
)
# Any URL: its query string goes if it names anything sensitive (presigned GET/PUT URLs).
_URL = re.compile(r"""(?P<base>[a-z][a-z0-9+.-]*://[^\s?#"'<>]+)\?(?P<query>[^\s#"'<>]*)""", re.I)
_SENSITIVE_QUERY = re.compile(r"(?:^|&)(?:x-amz-|signature|awsaccesskeyid|policy|token|key)", re.I)
# user:password@host in database and proxy URLs.
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<pw>[^@\s/]+)(?P<at>@)", re.I
)


def register_secret(value: str | None) -> None:
    """Redact ``value`` verbatim from every later log line (ignored when None or very short)."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _SECRETS_LOCK:
            _SECRETS.add(value)


def clear_secrets() -> None:
    """Forget every registered secret value (for tests and for re-configuration)."""
    with _SECRETS_LOCK:
        _SECRETS.clear()


def _redact_url(match: re.Match[str]) -> str:
    if _SENSITIVE_QUERY.search(match.group("query")):
        return f"{match.group('base')}?{REDACTED}"
    return match.group(0)


def _redact_pair(match: re.Match[str]) -> str:
    if not match.group("value"):
        return match.group(0)
    q = match.group("q") or ""
    return f"{match.group('key')}{match.group('sep')}{q}{REDACTED}"


def redact(text: str) -> str:
    """``text`` without secrets: presigned query strings, sensitive key=value pairs, URL
    passwords and registered secret values are replaced by ``[REDACTED]``. Pure; never raises."""
    with _SECRETS_LOCK:
        known = sorted(_SECRETS, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL.sub(_redact_url, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}{m.group('at')}", text)
    return _KEY_VALUE.sub(_redact_pair, text)


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


# --------------------------------------------------------------------------- filters/formatters


class ContextFilter(logging.Filter):
    """Attach the bound context (``get_context()``) to each record as ``resi_context``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "resi_context"):
            record.resi_context = get_context()
        return True


class RedactingFilter(logging.Filter):
    """Render ``msg % args`` once and redact it, plus string ``extra`` fields and context."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A broken format string must not hide the line; log it unformatted.
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "resi_context", {}) or {})
    fields.update({k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS})
    return fields


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return redact(record.exc_text) if record.exc_text else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``msg``, context and extras,
    and ``exc`` (the redacted traceback) when the record carries an exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in _extras(record).items():
            data.setdefault(key, _redact_value(value))
        exc = _exception_text(self, record)
        if exc:
            data["exc"] = exc
        return jsonlib.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``ts LEVEL logger: message key=value ...`` for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        line = f"{ts} {record.levelname} {record.name}: {redact(record.getMessage())}"
        extras = _extras(record)
        if extras:
            line += " " + " ".join(f"{k}={_redact_value(v)}" for k, v in extras.items())
        exc = _exception_text(self, record)
        return f"{line}\n{exc}" if exc else line


# --------------------------------------------------------------------------- setup


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def configure_logging(
    level: str | int = "INFO",
    json: bool = False,
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str | None] = (),
    third_party_level: str | int = "WARNING",
) -> logging.Handler:
    """Send every log record to ``stream`` (default stderr) as text or JSON lines.

    resi's loggers log at ``level``; other libraries (aiohttp, httpx, botocore, bittensor) only
    from ``third_party_level`` up, since e.g. httpx logs every request URL at INFO. ``secrets``
    are registered for verbatim redaction. Calling it again replaces the previous resi handler
    (idempotent). Returns the installed handler. Raises ``ValueError`` for an unknown level.
    """
    for value in secrets:
        register_secret(value)
    resi_level = _level(level)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _RESI_HANDLER, False)]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _RESI_HANDLER, True)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    root.addHandler(handler)
    # Propagation ignores ancestor levels: resi's records reach the root handler at resi_level
    # while other libraries stay at third_party_level.
    root.setLevel(_level(third_party_level))
    logging.getLogger("resi").setLevel(resi_level)
    return handler


_SECRET_FIELDS = ("secret", "s3_secret_key", "s3_access_key", "db_url")


def configure_logging_from(settings: Any, *, stream: TextIO | None = None) -> logging.Handler:
    """``configure_logging`` from a role's settings (``log_level``, ``log_json``), registering
    its secret fields (server secret, S3 keys, the database URL's password) for redaction."""
    secrets: list[str | None] = []
    for name in _SECRET_FIELDS:
        value = getattr(settings, name, None)
        if name == "db_url" and isinstance(value, str):
            match = _URL_PASSWORD.search(value)
            value = match.group("pw") if match else None
        secrets.append(value if isinstance(value, str) else None)
    return configure_logging(
        getattr(settings, "log_level", "INFO"),
        bool(getattr(settings, "log_json", False)),
        stream=stream,
        secrets=secrets,
    )
