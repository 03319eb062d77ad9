"""Seeded sampling, reward arithmetic, consensus hash formatting and weights."""

from __future__ import annotations

import hashlib
from fractions import Fraction

import pytest

from resi.chain.base import MetagraphSnapshot, Neuron
from resi.config import ScoringSettings
from resi.score.consensus import consensus_hash, decimal_string
from resi.score.models import BURN_KEY
from resi.score.rewards import epoch_scores
from resi.score.sampling import draw_indices, sample_size, spot_seed
from resi.score.weights import weights_for

CONFIG = ScoringSettings()


def _draws(hotkey: str, n: int = 1000, count: int = 10, sha: str = "a" * 64) -> list[int]:
    it = draw_indices(spot_seed("seed", hotkey, "10001", sha), n)
    return [next(it) for _ in range(count)]


def test_sampling_reproducible() -> None:
    assert _draws("hk1") == _draws("hk1")


def test_sampling_differs_per_miner_and_per_file() -> None:
    assert _draws("hk1") != _draws("hk2")
    assert _draws("hk1") != _draws("hk1", sha="b" * 64)


def test_sampling_pinned_values_stay_stable_across_versions() -> None:
    """A change here breaks consensus with validators running older code."""
    seed = spot_seed("seed", "hk1", "10001", "a" * 64)
    assert seed == hashlib.sha256(f"seed:hk1:10001:{'a' * 64}".encode()).digest()
    it = draw_indices(seed, 1000)
    assert [next(it) for _ in range(5)] == PINNED


PINNED = [85, 226, 257, 170, 112]


def test_draws_are_a_permutation() -> None:
    assert sorted(draw_indices(b"x" * 32, 57)) == list(range(57))


@pytest.mark.parametrize(
    ("rows", "k"), [(0, 0), (2, 2), (29, 3), (30, 3), (40, 4), (99, 9), (100, 10), (10_000, 10)]
)
def test_sample_size_clamped(rows: int, k: int) -> None:
    assert sample_size(rows, CONFIG) == k


def test_rewards_sum_to_one_and_zip_share_by_validated_count() -> None:
    winners = {"A": ("a1", "a2", "a3"), "B": ("b1",)}
    participants = {"A": ["a1", "a2", "a3", "p"], "B": ["b1", "q", "r"]}
    counts = {"A": 300, "B": 100}
    s = epoch_scores(["a1", "a2", "a3", "p", "b1", "q", "r"], winners, participants, counts, CONFIG)
    assert sum(s.values()) == 1
    assert s["a1"] == Fraction(3, 4) * Fraction(55, 100)
    assert s["p"] == Fraction(3, 4) * Fraction(5, 100)
    # B: ranks 2 and 3 unfilled → their 40% is burned (the default); q and r split the 5%
    assert s["q"] == s["r"] == Fraction(1, 4) * Fraction(5, 100) / 2
    assert s[BURN_KEY] == Fraction(1, 4) * Fraction(40, 100)


def test_unfilled_ranks_burned_by_default() -> None:
    assert ScoringSettings().unfilled_to_participants is False
    s = epoch_scores(["w", "p"], {"A": ("w",)}, {"A": ["w", "p"]}, {"A": 10}, CONFIG)
    assert s["w"] == Fraction(55, 100)
    assert s["p"] == Fraction(5, 100)
    assert s[BURN_KEY] == Fraction(40, 100)


def test_unfilled_ranks_to_participants_when_configured() -> None:
    config = ScoringSettings(unfilled_to_participants=True)
    s = epoch_scores(["w", "p"], {"A": ("w",)}, {"A": ["w", "p"]}, {"A": 10}, config)
    assert s["w"] == Fraction(55, 100)
    assert s["p"] == Fraction(45, 100)
    assert s[BURN_KEY] == 0


def test_unfilled_ranks_without_participants_go_to_burn() -> None:
    s = epoch_scores(["w"], {"A": ("w",)}, {"A": ["w"]}, {"A": 10}, CONFIG)
    assert s["w"] == Fraction(55, 100) and s[BURN_KEY] == Fraction(45, 100)


def test_nothing_validated_burns_everything() -> None:
    s = epoch_scores(["x"], {"A": ()}, {"A": ["x"]}, {"A": 0}, CONFIG)
    assert s == {"x": 0, BURN_KEY: 1}


def test_decimal_string_rounds_to_nine_places() -> None:
    assert decimal_string(Fraction(1, 3)) == "0.333333333"
    assert decimal_string(Fraction(2, 3)) == "0.666666667"
    assert decimal_string(Fraction(1)) == "1.000000000"


def test_consensus_hash_ignores_dict_order() -> None:
    a = consensus_hash("e", "n", {"x": 0.5, "y": 0.5}, {"Z1": ["x"], "Z2": ["y"]})
    b = consensus_hash("e", "n", {"y": 0.5, "x": 0.5}, {"Z2": ["y"], "Z1": ["x"]})
    assert a == b
    assert a != consensus_hash("e", "n", {"x": 0.5, "y": 0.5}, {"Z1": ["y"], "Z2": ["x"]})


def test_weights_map_hotkeys_drop_unregistered_and_burn() -> None:
    mg = MetagraphSnapshot(
        netuid=1,
        block=10,
        tempo=360,
        neurons=(Neuron(3, "hkA", "c", 0.0, False), Neuron(5, "hkB", "c", 0.0, False)),
    )
    uids, weights = weights_for({"hkA": 0.5, "gone": 0.25, BURN_KEY: 0.25}, mg, burn_uid=0)
    assert uids == [0, 3]
    assert weights == pytest.approx([1 / 3, 2 / 3])
    assert weights_for({"gone": 1.0}, mg, burn_uid=7) == ([7], [1.0])
