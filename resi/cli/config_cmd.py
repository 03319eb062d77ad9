"""`resi config show`: print a role's effective settings (flags > env > TOML > defaults) as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from resi.cli.common import ConfigOption, SetOption, handle_errors, settings_from
from resi.errors import ConfigError

app = typer.Typer(help="Inspect resolved configuration.", no_args_is_help=True)

# Values that must never be echoed to a terminal or a log.
SECRET_FIELDS = frozenset({"secret", "s3_secret_key"})


def effective_settings(role: str, sets: list[str] | None, config: Path | None) -> dict[str, object]:
    """The resolved settings of ``role`` as JSON-ready data, secrets masked.

    Raises ``ConfigError`` for an unknown role, unknown key or bad value.
    """
    from resi.config import ROLES

    cls = ROLES.get(role)
    if cls is None:
        raise ConfigError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    settings = settings_from(cls, {}, config, sets)
    data: dict[str, object] = settings.model_dump(mode="json")
    for name in SECRET_FIELDS & data.keys():
        if data[name] is not None:
            data[name] = "***"
    return data


@app.command("show")
@handle_errors
def show(
    # Spelled out rather than read from resi.config.ROLES, which would load pydantic for every
    # `resi` invocation; a test checks this help names every role.
    role: str = typer.Option(..., "--role", help="One of: serve-api, mine, validate."),
    config: Path | None = ConfigOption,
    sets: list[str] | None = SetOption,
) -> None:
    """Print the effective settings of a role as JSON (secrets masked)."""
    typer.echo(json.dumps(effective_settings(role, sets, config), indent=2, sort_keys=True))
