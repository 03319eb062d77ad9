"""Property: whatever text miners or validators supply, rendered pages contain no markup of theirs.

Parses every page with the standard HTML parser and checks that only the explorer's own tags
appear and no attribute is an event handler or a script URL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from resi.api.explorer import render
from resi.api.explorer.data import EpochView, Verdict, ZipcodeView
from resi.api.schemas import Consensus, ConsensusEntry

ALLOWED = {
    "html", "head", "meta", "link", "title", "style", "body", "header", "strong", "nav", "a",
    "main", "h1", "h2", "p", "table", "caption", "thead", "tbody", "tr", "th", "td", "code",
    "span", "br", "svg", "rect", "polygon", "circle", "text", "g", "ul", "li", "line",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.bad.append(tag)
        for name, value in attrs:
            if name.startswith("on") or (value or "").strip().lower().startswith("javascript:"):
                self.bad.append(f"{tag}[{name}]")


def _check(html: bytes) -> None:
    parser = _Tags()
    parser.feed(html.decode())
    assert parser.bad == []


hostile = st.text(alphabet=st.sampled_from("<>\"'&/=: abcscriptimgonerrorjavascript"), max_size=40)


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(hotkey=hostile, reason=hostile, place=hostile, validator=hostile)
def test_hostile_text_never_becomes_markup(
    hotkey: str, reason: str, place: str, validator: str
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    consensus = Consensus(
        epoch_id="2026-01-01T00-00-00",
        validators=[
            ConsensusEntry(validator=validator, consensus_hash="a" * 64, report_key=reason,
                           received_at=now)
        ],
        majority_hash="a" * 64,
        agreement=1.0,
        outliers=[],
    )  # fmt: skip
    view = EpochView(
        epoch_id="2026-01-01T00-00-00",
        state="COMPLETED",
        start=now,
        end=now,
        target=1,
        achieved=1,
        zipcodes=(ZipcodeView("10001", place, 40.0, -74.0, 5, False, 1, (hotkey,), 3),),
        commits=1,
        miners_committed=(hotkey,),
        consensus=consensus,
        scores={hotkey: "1.000000000"},
        verdicts={hotkey: (Verdict("10001", 1, (reason,), False, 1, 1),)},
    )
    for html in (
        render.epochs_page([view]),
        render.epoch_page(view),
        render.miner_page(hotkey, [view]),
        render.validators_page([view], {validator: 7}),
    ):
        _check(html)
