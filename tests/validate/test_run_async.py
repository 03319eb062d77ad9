"""run_async (how the CLI runs ``resi validate --once`` and ``replay-epoch``) hands the result
out without the event loop's teardown formatting its repr: with Python 3.11's asyncio.Runner
that repr of a whole epoch's result took ~200 MB and seconds at 250 miners."""

from __future__ import annotations

from resi.cli.common import run_async


class Huge:
    """Stands for an epoch's result: its repr is expensive, so nobody may ask for it."""

    reprs = 0

    def __repr__(self) -> str:
        Huge.reprs += 1
        return "Huge(...)"


async def _score() -> Huge:
    return Huge()


def test_result_is_returned_without_its_repr_being_formatted() -> None:
    result = run_async(_score)
    assert isinstance(result, Huge)
    assert Huge.reprs == 0
