"""Configuration: precedence (flag > env > TOML > default), refusals, and the generated docs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resi.cli.app import app
from resi.config import (
    ROLES,
    ApiServerSettings,
    MinerSettings,
    ValidatorSettings,
    load_settings,
    parse_set_options,
    render_markdown,
)
from resi.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resi.toml"
    path.write_text(text)
    return path


def test_defaults_come_from_the_design() -> None:
    s = ApiServerSettings()
    assert (s.epoch_seconds, s.target_listings, s.tolerance) == (14_400, 10_000, 0.10)
    assert (s.min_zip_listings, s.max_zip_listings, s.cooldown_hours) == (200, 3_000, 24.0)
    v = ValidatorSettings()
    assert v.rank_shares == (0.55, 0.30, 0.10) and v.participant_share == 0.05
    assert (v.spot_min_sample, v.spot_max_sample, v.weights_interval) == (3, 10, 360)


@pytest.mark.parametrize(
    ("flag", "env", "file", "expected"),
    [
        ("7", "8", "9", 7),  # flag wins over everything
        (None, "8", "9", 8),  # env over file
        (None, None, "9", 9),  # file over default
        (None, None, None, 46),  # default
    ],
)
def test_precedence_flag_env_toml_default(
    tmp_path: Path, flag: str | None, env: str | None, file: str | None, expected: int
) -> None:
    config = toml(tmp_path, f"netuid = {file}\n") if file else None
    settings = load_settings(
        MinerSettings,
        {"netuid": flag},
        env={"RESI_NETUID": env} if env else {},
        config_file=config,
    )
    assert settings.netuid == expected


def test_env_and_toml_values_are_parsed_and_combined(tmp_path: Path) -> None:
    config = toml(tmp_path, 'network = "finney"\nproxies = ["http://p1", "http://p2"]\n')
    settings = load_settings(
        ValidatorSettings,
        {"chain_timeout": "3.5"},
        env={"RESI_RANK_SHARES": "0.6,0.3,0.1", "RESI_LOG_JSON": "true", "OTHER": "x"},
        config_file=config,
    )
    assert settings.network == "finney"
    assert settings.proxies == ("http://p1", "http://p2")
    assert settings.rank_shares == (0.6, 0.3, 0.1)
    assert settings.log_json is True and settings.chain_timeout == 3.5


def test_toml_key_of_another_role_is_allowed_but_ignored(tmp_path: Path) -> None:
    # One shared file can configure every role; keys of other roles are not errors.
    config = toml(tmp_path, "port = 9000\nnetuid = 5\n")
    settings = load_settings(MinerSettings, {}, env={}, config_file=config)
    assert settings.netuid == 5 and not hasattr(settings, "port")


@pytest.mark.parametrize(
    ("flags", "file_text", "match"),
    [
        ({"bogus": "1"}, None, "unknown setting 'bogus'"),
        ({}, "bogus = 1\n", "unknown setting 'bogus'"),
        ({"netuid": "abc"}, None, "invalid value for netuid"),
        ({"epoch_seconds": "7000"}, None, "epoch_seconds"),
        ({"tolerance": "1.5"}, None, "invalid value for tolerance"),
        ({}, "netuid = [", "not valid TOML"),
    ],
)
def test_unknown_key_or_bad_value_is_a_config_error(
    tmp_path: Path, flags: dict[str, str], file_text: str | None, match: str
) -> None:
    config = toml(tmp_path, file_text) if file_text is not None else None
    with pytest.raises(ConfigError, match=match):
        load_settings(ApiServerSettings, flags, env={}, config_file=config)


def test_bad_env_value_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="invalid value for port"):
        load_settings(ApiServerSettings, {}, env={"RESI_PORT": "99999"})


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(MinerSettings, {}, env={}, config_file=tmp_path / "absent.toml")


def test_set_option_parsing() -> None:
    assert parse_set_options(["target-listings=5", "api_url=http://x/?a=b"]) == {
        "target_listings": "5",
        "api_url": "http://x/?a=b",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_options(["novalue"])


def test_every_field_has_help_text() -> None:
    for role, cls in ROLES.items():
        for name, field in cls.model_fields.items():
            assert field.description and len(field.description) > 10, f"{role}.{name}"


def test_docs_are_generated_from_the_settings() -> None:
    """docs/configuration.md must be `python -m resi.config` output; regenerate it when it fails."""
    assert DOC.read_text() == render_markdown()


def test_every_field_of_every_role_is_documented() -> None:
    text = DOC.read_text()
    for role, cls in ROLES.items():
        section = text.split(f"## `resi {role}`", 1)[1].split("\n## ", 1)[0]
        for name in cls.model_fields:
            assert re.search(rf"^\| `{name}` \| `RESI_{name.upper()}` \|", section, re.M), (
                f"{role}: {name} is not documented"
            )


# ----------------------------------------------------------------- through the CLI


def test_config_show_applies_set_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESI_TARGET_LISTINGS", "1234")
    monkeypatch.setenv("RESI_SECRET", "hunter2")
    config = toml(tmp_path, "netuid = 12\nport = 8080\n")
    result = CliRunner().invoke(
        app,
        ["config", "show", "--role", "serve-api", "--config", str(config), "--set", "port=9001"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["netuid"], data["port"], data["target_listings"]) == (12, 9001, 1234)
    assert data["secret"] == "***" and "hunter2" not in result.stdout


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a child process (as a user would)."""
    return subprocess.run(
        [sys.executable, "-c", "from resi.cli.app import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_unknown_setting_exits_2_with_one_line_and_no_traceback() -> None:
    proc = _run_cli("config", "show", "--role", "validate", "--set", "bogus=1")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines == ["error: unknown setting 'bogus'"]


def test_bad_value_exits_2_without_traceback() -> None:
    proc = _run_cli("config", "show", "--role", "mine", "--set", "netuid=abc")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: invalid value for netuid")


def test_role_help_names_every_role() -> None:
    result = CliRunner().invoke(app, ["config", "show", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for role in ROLES:
        assert role in result.stdout, role


def test_unknown_role_exits_2() -> None:
    result = CliRunner().invoke(app, ["config", "show", "--role", "nope"])
    assert result.exit_code == 2
    assert "unknown role 'nope'" in result.output
