"""The scoring GC settings are undone when scoring ends, however it ends (no leak over epochs)."""

from __future__ import annotations

import gc
import weakref

import pytest

from resi.validate.gctune import SCORING_THRESHOLDS, scoring_gc


def test_settings_hold_while_scoring_and_are_undone_after() -> None:
    before = gc.get_threshold()
    with scoring_gc():
        assert gc.get_threshold() == SCORING_THRESHOLDS
        assert gc.get_freeze_count() > 0
        with scoring_gc():  # re-entrant: the inner block changes nothing
            assert gc.get_threshold() == SCORING_THRESHOLDS
        assert gc.get_threshold() == SCORING_THRESHOLDS
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_exception_while_scoring_still_restores_the_collector() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), scoring_gc():
        raise RuntimeError("scoring failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_while_scoring_are_collected_after_it() -> None:
    class Node:
        other: object = None

    with scoring_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a
        refs = [weakref.ref(a), weakref.ref(b)]
        del a, b
    gc.collect()
    assert [r() for r in refs] == [None, None]
