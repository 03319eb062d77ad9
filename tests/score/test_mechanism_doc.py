"""docs/mechanism.md carries bench/mechanism_ev.py's expected-value table, verbatim."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from resi.config import ScoringSettings

ROOT = Path(__file__).resolve().parents[2]


def _ev_module() -> ModuleType:
    path = ROOT / "bench" / "mechanism_ev.py"
    spec = importlib.util.spec_from_file_location("mechanism_ev", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mechanism_ev"] = module
    spec.loader.exec_module(module)
    return module


def test_doc_table_equals_the_script_output() -> None:
    doc = (ROOT / "docs" / "mechanism.md").read_text()
    inside = doc.split("<!-- ev-table:start -->\n", 1)[1].split("\n<!-- ev-table:end -->", 1)[0]
    assert inside == _ev_module().table(), "regenerate: python bench/mechanism_ev.py"


def test_cheating_loses_against_honesty_at_the_default_settings() -> None:
    ev = _ev_module()
    config = ScoringSettings()
    honest = ev.epoch_ev(ev.honest_strategy(), config)[2]
    assert honest == 1
    for s in ev.strategies():
        if s.name.startswith("honest"):
            continue
        assert ev.epoch_ev(s, config)[2] < 1, s.name


def test_lowering_the_floor_helps_value_guessers() -> None:
    """The floor matters: at 0 the 30%-guessing strategy is never a liar."""
    ev = _ev_module()
    guess = next(s for s in ev.strategies() if s.name.startswith("lazy values"))
    assert ev.epoch_ev(guess, ScoringSettings(spot_fabrication_floor=0.0))[1] == 0
    assert ev.epoch_ev(guess, ScoringSettings())[1] > 0.3
