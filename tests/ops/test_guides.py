"""The guides and examples cite only commands, flags, settings and metrics that exist.

Docs that cite constants the code no longer has were a failure of the upstream subnet; these
tests extract every `resi ...` command line, `--flag`, `RESI_*` variable and `resi_api_*` metric
from docs/{operator,validator,miner}.md and examples/ and check them against the typer app, the
settings classes and the API's metrics registry.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import click
import pytest
import typer.main
from pydantic import BaseModel

from resi.api.metrics import ApiMetrics
from resi.cli.app import app
from resi.config import ROLES, HealthSettings
from resi.scrape.listing import LISTING_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
GUIDES = [ROOT / "docs" / name for name in ("operator.md", "validator.md", "miner.md")]
EXAMPLES = sorted(
    p
    for p in (ROOT / "examples").rglob("*")
    if p.is_file() and p.suffix in {".service", ".js", ".yml", ".example", ".conf", ".md"}
)
ROOT_COMMAND = typer.main.get_command(app)


def _code_lines(text: str) -> list[str]:
    """Shell lines from fenced blocks (continuations joined) and inline `resi ...` spans."""
    lines: list[str] = []
    fence: str | None = None  # language of the open fenced block, None outside one
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
        elif fence in ("bash", "sh", "shell"):
            lines.append(line)
        elif fence is None:
            lines += re.findall(r"`(resi [^`]+)`", line)
    return lines


def _example_lines(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".js":
        # pm2: `script: RESI, args: [...]` is `resi <args>`.
        return [
            "resi " + " ".join(json.loads(f"[{m}]"))
            for m in re.findall(r"args: \[([^\]]*)\]", text.replace("`", '"'))
        ]
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart")]


def resi_invocations(lines: list[str]) -> list[list[str]]:
    """Each `resi` invocation in ``lines`` as its argument list (after the `resi` word)."""
    found: list[list[str]] = []
    for line in lines:
        line = line.split(" #", 1)[0]
        for part in re.split(r"&&|;|\|\||\||&", line):
            try:
                words = shlex.split(part)
            except ValueError:
                continue
            for i, word in enumerate(words):
                if (word == "resi" or word.endswith("/resi")) and i + 1 < len(words):
                    if words[i + 1].startswith("-") and words[i + 1] not in ("--version",):
                        continue
                    found.append(words[i + 1 :])
                    break
    return found


def resolve(args: list[str]) -> tuple[Any, list[str]]:
    """The click command ``args`` name (walking groups) and the remaining words."""
    command: Any = ROOT_COMMAND
    rest = list(args)
    # Typer's group class is not always a click.Group subclass: duck-type on get_command.
    while hasattr(command, "get_command") and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"`resi {' '.join(args)}`: no command {rest[0]!r}"
        command, rest = sub, rest[1:]
    return command, rest


def check_invocation(args: list[str]) -> None:
    command, rest = resolve(args)
    options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    options.add("--help")
    for word in rest:
        if word.startswith("--"):
            flag = word.split("=", 1)[0]
            assert flag in options, f"`resi {' '.join(args)}`: {command.name} has no {flag}"
    for i, word in enumerate(rest):
        if word == "--set" and i + 1 < len(rest):
            key = rest[i + 1].split("=", 1)[0].replace("-", "_")
            assert key in SETTINGS, f"`--set {rest[i + 1]}`: no setting {key!r}"


SETTINGS_CLASSES: tuple[type[BaseModel], ...] = (*ROLES.values(), HealthSettings)
SETTINGS = {name for cls in SETTINGS_CLASSES for name in cls.model_fields}


@pytest.mark.parametrize("path", GUIDES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_resi_command_and_flag_exists(path: Path) -> None:
    text = path.read_text()
    lines = _code_lines(text) if path.suffix == ".md" else _example_lines(path)
    invocations = resi_invocations(lines)
    if path in GUIDES or path.suffix in {".service", ".js"}:
        assert invocations, f"{path.name} cites no resi command"
    for args in invocations:
        check_invocation(args)


@pytest.mark.parametrize("path", GUIDES + EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_resi_variable_is_a_setting(path: Path) -> None:
    for var in set(re.findall(r"\bRESI_([A-Z0-9_]+)", path.read_text())):
        if var in {"BIN", "HOME"} or var.endswith("_"):  # pm2 paths; `RESI_S3_*` families
            continue
        assert var.lower() in SETTINGS, f"{path.name}: RESI_{var} is not a setting"


# Backticked snake_case names in the guides that are not settings (fields, functions, keys).
# The listing record's columns (DESIGN §7) are named in the guides too; they are not settings.
LISTING_FIELDS = frozenset(LISTING_SCHEMA.names)
NOT_SETTINGS = {
    "validation_seed",
    "epoch_id",
    "miner_hotkey",
    "majority_hash",
    "set_weights",
}


def test_guides_cite_settings_that_exist() -> None:
    """Backticked snake_case words in the guides must be settings (or known non-settings)."""
    for path in GUIDES:
        for name in set(re.findall(r"`([a-z][a-z0-9]*(?:_[a-z0-9]+)+)`", path.read_text())):
            if name in NOT_SETTINGS or name in LISTING_FIELDS:
                continue
            if name.startswith(("resi_api_", "validat", "epoch_")):
                continue
            assert name in SETTINGS, f"{path.name}: `{name}` is not a setting"


def test_dashboard_and_guides_name_only_exported_metrics() -> None:
    metrics = ApiMetrics()
    metrics.requests.inc("current", "200")
    metrics.latency.observe(0.01, "current")
    text = metrics.render()
    exported = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    exported |= set(re.findall(r"^(resi_api_[a-z_]+)", text, re.M))
    dashboard = (ROOT / "examples" / "grafana" / "resi-api-dashboard.json").read_text()
    json.loads(dashboard)
    cited = set(re.findall(r"\bresi_api_[a-z_]+", dashboard))
    cited |= set(re.findall(r"\bresi_api_[a-z_]+", (ROOT / "docs" / "operator.md").read_text()))
    assert cited, "no metrics cited"
    for name in cited:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in exported or base in exported, f"{name} is not exported by /metrics"


def test_the_checker_catches_stale_commands_flags_and_settings() -> None:
    """Guard the guard: a renamed flag, command or setting must fail the checks above."""
    for stale in (["mine", "--no-such-flag"], ["no-such-command"], ["wallet", "create", "--nope"]):
        with pytest.raises(AssertionError):
            check_invocation(stale)
    with pytest.raises(AssertionError):
        check_invocation(["serve-api", "--set", "no_such_setting=1"])
    text = "```bash\nresi mine --wallet m \\\n    --proxy-file p.txt\n```\n"
    assert resi_invocations(_code_lines(text)) == [
        ["mine", "--wallet", "m", "--proxy-file", "p.txt"]
    ]
