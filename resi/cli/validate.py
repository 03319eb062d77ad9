"""`resi validate`."""

from __future__ import annotations

from resi.cli.common import handle_errors, not_available


@handle_errors
def command() -> None:
    """Not available yet."""
    raise not_available("validate")
