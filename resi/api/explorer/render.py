"""HTML of the explorer's pages: plain server-rendered documents, no JavaScript, no CDN.

Every value that reaches a page passes through ``escape`` (hotkeys and reason codes come from
miners and validators); links are built from URL-quoted path segments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import quote

from resi.api.explorer.data import EpochView, Verdict
from resi.api.explorer.svg import MapPoint, render_legend, render_map

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#111827;
background:#fff}
header{background:#0f172a;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.5rem;
align-items:baseline}
header a{color:#e2e8f0;text-decoration:none}header strong{font-size:1.2rem}
main{padding:1rem 1.2rem;max-width:1100px}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.9rem}
th,td{border:1px solid #d1d5db;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.85rem}.map{width:100%;max-width:960px;height:auto;border:1px solid #e5e7eb}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}
.legend li{display:flex;align-items:center;gap:.3rem}.muted{color:#6b7280}
.ok{color:#166534}.bad{color:#b91c1c}
"""


def h(value: object) -> str:
    """``value`` as escaped HTML text."""
    return escape(str(value), quote=True)


def short(hotkey: str) -> str:
    """A hotkey shortened for tables (``5DF1a7Wh…Ygk3J``); the full one goes in a title."""
    return hotkey if len(hotkey) <= 16 else f"{hotkey[:8]}…{hotkey[-5:]}"


def miner_link(hotkey: str) -> str:
    return (
        f'<a href="/miner/{quote(hotkey, safe="")}" title="{h(hotkey)}">'
        f"<code>{h(short(hotkey))}</code></a>"
    )


def epoch_link(epoch_id: str) -> str:
    return f'<a href="/epoch/{quote(epoch_id, safe="")}">{h(epoch_id)}</a>'


def page(title: str, body: str) -> bytes:
    """A whole HTML document around ``body`` (already escaped)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{h(title)} · resi explorer</title><style>{_CSS}</style></head><body>"
        '<header><strong>resi explorer</strong><nav><a href="/">Epochs</a> · '
        '<a href="/validators">Validators</a></nav></header>'
        f"<main>{body}</main></body></html>"
    ).encode()


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> str:
    """A table with a <th scope=col> header row; cells are trusted (already escaped) HTML."""
    head = "".join(f'<th scope="col">{h(c)}</th>' for c in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    cap = f"<caption>{h(caption)}</caption>" if caption else ""
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="muted">none yet</td></tr>'
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _agreement(v: EpochView) -> str:
    if not v.done:
        return '<span class="muted">after completion</span>'
    if not v.reporting:
        return '<span class="muted">no results yet</span>'
    return f"{v.agreeing}/{v.reporting} ({v.consensus.agreement:.0%})"


def _quorum(v: EpochView) -> str:
    if not v.done or not v.reporting:
        return '<span class="muted">—</span>'
    return '<span class="ok">✔ yes</span>' if v.quorum else '<span class="bad">✘ no</span>'


def epochs_page(views: Sequence[EpochView]) -> bytes:
    """`/`: recent epochs, newest first."""
    rows = [
        (
            epoch_link(v.epoch_id),
            h(v.state),
            f"{v.target:,}",
            f"{v.achieved:,}" if v.achieved is not None else '<span class="muted">hidden</span>',
            str(len(v.zipcodes)),
            str(v.commits),
            str(len(v.miners_committed)),
            str(v.reporting),
            _agreement(v),
            _quorum(v),
        )
        for v in views
    ]
    body = (
        "<h1>Epochs</h1><p>Each epoch assigns zipcodes; miners scrape and commit files; "
        "validators check them during the next epoch and post a consensus hash.</p>"
        + table(
            (
                "Epoch", "State", "Target", "Achieved", "Zipcodes", "Commits", "Miners",
                "Validators reporting", "Agreement", "Quorum",
            ),
            rows,
        )
    )  # fmt: skip
    return page("Epochs", body)


def _ranks_cell(winners: Sequence[str], i: int) -> str:
    return miner_link(winners[i]) if i < len(winners) else '<span class="muted">—</span>'


def _verdict_text(v: Verdict) -> str:
    reasons = " ".join(f"<code>{h(r)}</code>" for r in v.reasons) or '<span class="muted">—</span>'
    rank = f"rank {v.rank}" if v.rank else ("liar" if v.liar else "unranked")
    return f'{h(v.zipcode)}: {h(rank)} {reasons} <span class="muted">({v.votes}/{v.of})</span>'


def epoch_page(v: EpochView) -> bytes:
    """`/epoch/{id}`: facts, the map, the zipcodes with winners, the miners with reasons."""
    points = [MapPoint(z.zipcode, z.place, z.lat, z.lon, z.outcome) for z in v.zipcodes]
    shown = sorted({p.outcome for p in points}, key=lambda k: k)
    facts = table(
        ("State", "Start", "End", "Target", "Achieved", "Zipcodes", "Commits", "Agreement",
         "Quorum"),
        [(
            h(v.state), h(v.start.isoformat()), h(v.end.isoformat()), f"{v.target:,}",
            f"{v.achieved:,}" if v.achieved is not None else '<span class="muted">hidden</span>',
            str(len(v.zipcodes)), str(v.commits), _agreement(v), _quorum(v),
        )],
    )  # fmt: skip
    zip_rows = [
        (
            f"<code>{h(z.zipcode)}</code>",
            h(z.place),
            f"{z.expected:,}",
            str(z.commits) if z.commits is not None else '<span class="muted">hidden</span>',
            h(z.outcome),
            _ranks_cell(z.winners, 0),
            _ranks_cell(z.winners, 1),
            _ranks_cell(z.winners, 2),
            str(z.validated) if z.validated is not None else '<span class="muted">—</span>',
        )
        for z in sorted(v.zipcodes, key=lambda z: z.zipcode)
    ]
    miner_rows = []
    for hotkey in v.miners:
        verdicts = v.verdicts.get(hotkey, ())
        ranks = Counter(x.rank for x in verdicts if x.rank)
        miner_rows.append(
            (
                miner_link(hotkey),
                h(v.scores.get(hotkey, "—")),
                h(" ".join(f"{r}×{n}" for r, n in sorted(ranks.items())) or "—"),
                "<br>".join(_verdict_text(x) for x in verdicts)
                or '<span class="muted">awaiting validators</span>',
            )
        )
    hidden = (
        ""
        if v.done
        else '<p class="muted">This epoch is still running: outcomes appear once it '
        "completes and validators report.</p>"
    )
    body = (
        f"<h1>Epoch {h(v.epoch_id)}</h1>{facts}{hidden}<h2>Map</h2>"
        + render_map(points, f"Zipcodes of epoch {v.epoch_id} by outcome")
        + render_legend(shown)
        + "<h2>Zipcodes and winners</h2>"
        + table(
            (
                "Zipcode",
                "Place",
                "Expected",
                "Commits",
                "Outcome",
                "Rank 1",
                "Rank 2",
                "Rank 3",
                "Validated",
            ),
            zip_rows,
        )
        + "<h2>Miners</h2><p>Reason codes as most validators reported them "
        "(votes/validators).</p>"
        + table(("Miner", "Score", "Ranks", "Zipcodes: verdict and reasons"), miner_rows)
    )
    return page(f"Epoch {v.epoch_id}", body)


def _score_chart(points: Sequence[tuple[str, float]]) -> str:
    """A small bar chart (inline SVG) of a miner's score per epoch, oldest on the left."""
    width, height, pad = 640, 160, 30
    n = max(len(points), 1)
    bar = min((width - 2 * pad) / n, 64.0)
    top = max([s for _, s in points] + [1e-9])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-title" width="{width}" height="{height}">'
        '<title id="chart-title">Score per epoch</title>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#6b7280"/>'
    ]
    for i, (epoch_id, score) in enumerate(points):
        bh = (height - 2 * pad) * (score / top)
        x = pad + i * bar + 2
        y = height - pad - bh
        parts.append(
            f"<g><title>{h(epoch_id)}: {score:.6f}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar - 4, 1):.1f}" height="{bh:.1f}" '
            'fill="#1d4ed8"/>'
            f'<text x="{x + bar / 2 - 2:.1f}" y="{y - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{score:.3f}</text>'
            f'<text x="{x + bar / 2 - 2:.1f}" y="{height - pad + 14}" font-size="10" '
            f'text-anchor="middle">{h(epoch_id[5:13].replace("T", " "))}h</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def miner_page(hotkey: str, views: Sequence[EpochView]) -> bytes:
    """`/miner/{hotkey}`: score, ranks and reasons across recent epochs."""
    rows = []
    chart: list[tuple[str, float]] = []
    for v in sorted(views, key=lambda v: v.epoch_id):
        verdicts = v.verdicts.get(hotkey, ())
        score = v.scores.get(hotkey)
        if score is not None:
            chart.append((v.epoch_id, float(score)))
        ranks = Counter(x.rank for x in verdicts if x.rank)
        reasons = Counter(r for x in verdicts for r in x.reasons)
        rows.append(
            (
                epoch_link(v.epoch_id),
                h(v.state),
                h(score if score is not None else "—"),
                h(" ".join(f"{r}×{n}" for r, n in sorted(ranks.items())) or "—"),
                " ".join(f"<code>{h(r)}</code>×{n}" for r, n in sorted(reasons.items()))
                or '<span class="muted">—</span>',
            )
        )
    rows.reverse()
    body = (
        f"<h1>Miner <code>{h(hotkey)}</code></h1><h2>Score per epoch</h2>"
        + (_score_chart(chart) if chart else '<p class="muted">No validated epoch yet.</p>')
        + "<h2>Recent epochs</h2>"
        + table(("Epoch", "State", "Score", "Ranks", "Reason codes (count)"), rows)
        + '<p>Why a reason code? See "Why did I get 0?" in docs/miner.md, or run '
        "<code>resi report</code> for the spot-check rows.</p>"
    )
    return page(f"Miner {hotkey}", body)


def validators_page(views: Sequence[EpochView], weights: dict[str, int | None]) -> bytes:
    """`/validators`: each validator's hash per epoch, agreement and last weights block."""
    rows = []
    for v in views:
        majority = v.consensus.majority_hash
        for entry in v.consensus.validators:
            agrees = entry.consensus_hash == majority
            rows.append(
                (
                    epoch_link(v.epoch_id),
                    f'<code title="{h(entry.validator)}">{h(short(entry.validator))}</code>',
                    f"<code>{h(entry.consensus_hash[:16])}…</code>",
                    '<span class="ok">✔ majority</span>'
                    if agrees
                    else '<span class="bad">✘ outlier</span>',
                    h(entry.received_at.isoformat()),
                )
            )
    weight_rows = [
        (f"<code>{h(hk)}</code>", h(b if b is not None else "—"))
        for hk, b in sorted(weights.items())
    ]
    body = (
        "<h1>Validators</h1><h2>Last weights</h2>"
        + table(("Validator", "Last weights block"), weight_rows)
        + "<h2>Consensus hashes per epoch</h2>"
        + table(("Epoch", "Validator", "Hash", "Agreement", "Received"), rows)
    )
    return page("Validators", body)


def not_found_page() -> bytes:
    return page("Not found", '<h1>Not found</h1><p><a href="/">Back to the epochs</a></p>')
