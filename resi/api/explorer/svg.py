"""The US map of an epoch: zipcode centres as points on a server-rendered SVG (no JavaScript).

A plain equirectangular projection scaled by cos(latitude) for the contiguous states, with
Alaska and Hawaii in insets. Every point has a shape and a <title>, so colour is never the only
carrier of its outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 960
HEIGHT = 560


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    colour: str
    shape: str  # circle | ring | square | triangle | diamond


OUTCOMES: dict[str, Outcome] = {
    o.key: o
    for o in (
        Outcome("won", "won (ranked files)", "#1b7f3b", "circle"),
        Outcome("unranked", "submitted, nobody ranked", "#c2410c", "triangle"),
        Outcome("empty", "no submissions", "#6b7280", "square"),
        Outcome("assigned", "assigned (epoch still running)", "#1d4ed8", "circle"),
        Outcome("pending", "awaiting validation", "#0e7490", "ring"),
    )
}


@dataclass(frozen=True)
class MapPoint:
    zipcode: str
    label: str  # e.g. "Austin, TX"
    lat: float
    lon: float
    outcome: str


@dataclass(frozen=True)
class _Frame:
    """A projected box: lon/lat bounds mapped into a pixel rectangle."""

    lon0: float
    lon1: float
    lat0: float
    lat1: float
    x: float
    y: float
    w: float
    h: float

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        mid = math.cos(math.radians((self.lat0 + self.lat1) / 2))
        span_x = (self.lon1 - self.lon0) * mid
        span_y = self.lat1 - self.lat0
        scale = min(self.w / span_x, self.h / span_y)
        px = self.x + (lon - self.lon0) * mid * scale
        py = self.y + (self.lat1 - lat) * scale
        return round(px, 1), round(py, 1)

    def holds(self, lat: float, lon: float) -> bool:
        return self.lat0 <= lat <= self.lat1 and self.lon0 <= lon <= self.lon1


CONUS = _Frame(-125.0, -66.5, 24.0, 49.8, 20, 20, 920, 440)
ALASKA = _Frame(-170.0, -129.0, 51.0, 71.5, 20, 430, 180, 110)
HAWAII = _Frame(-160.5, -154.5, 18.8, 22.4, 220, 470, 120, 70)
FRAMES = (CONUS, ALASKA, HAWAII)

# A coarse outline of the contiguous states (lon, lat), drawn only as orientation.
_OUTLINE = (
    (-124.7, 48.4), (-123.0, 46.2), (-124.2, 42.0), (-123.8, 39.8), (-122.4, 37.2),
    (-120.6, 34.6), (-117.1, 32.5), (-114.7, 32.7), (-111.1, 31.3), (-108.2, 31.3),
    (-106.5, 31.8), (-104.0, 29.3), (-101.4, 29.8), (-99.5, 27.5), (-97.1, 25.9),
    (-97.4, 27.8), (-94.0, 29.7), (-90.0, 29.1), (-89.0, 30.3), (-85.0, 29.7),
    (-82.7, 27.5), (-81.1, 25.1), (-80.0, 26.8), (-81.4, 30.7), (-79.0, 33.6),
    (-75.5, 35.2), (-76.0, 37.0), (-74.0, 40.5), (-70.0, 41.7), (-70.7, 43.1),
    (-67.0, 44.8), (-68.2, 47.3), (-69.3, 47.4), (-71.5, 45.0), (-75.0, 44.9),
    (-79.1, 43.4), (-82.5, 41.7), (-82.4, 45.3), (-84.7, 46.5), (-88.4, 48.3),
    (-95.2, 49.0), (-123.1, 49.0), (-124.7, 48.4),
)  # fmt: skip


def _shape(o: Outcome, x: float, y: float) -> str:
    r = 5.0
    fill = f'fill="{o.colour}" stroke="#111" stroke-width="0.8"'
    if o.shape == "circle":
        return f'<circle cx="{x}" cy="{y}" r="{r}" {fill}/>'
    if o.shape == "ring":
        ring = f'fill="#fff" stroke="{o.colour}" stroke-width="2.5"'
        return f'<circle cx="{x}" cy="{y}" r="{r}" {ring}/>'
    if o.shape == "square":
        return f'<rect x="{x - r}" y="{y - r}" width="{2 * r}" height="{2 * r}" {fill}/>'
    if o.shape == "triangle":
        pts = f"{x},{y - r - 1} {x - r - 1},{y + r} {x + r + 1},{y + r}"
        return f'<polygon points="{pts}" {fill}/>'
    pts = f"{x},{y - r - 1} {x + r + 1},{y} {x},{y + r + 1} {x - r - 1},{y}"
    return f'<polygon points="{pts}" {fill}/>'


def _frame_of(p: MapPoint) -> _Frame:
    for frame in FRAMES:
        if frame.holds(p.lat, p.lon):
            return frame
    return CONUS  # outside every box (territories): clamped onto the main frame's edge


def render_map(points: Sequence[MapPoint], title: str) -> str:
    """The SVG element (text) of ``points`` on the US map; every string is escaped."""
    outline = " ".join(f"{x},{y}" for x, y in (CONUS.project(lat, lon) for lon, lat in _OUTLINE))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="map-title" class="map">',
        f'<title id="map-title">{escape(title)}</title>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#f8fafc"/>',
        f'<polygon points="{outline}" fill="#e5e7eb" stroke="#9ca3af" stroke-width="1.5"/>',
        '<rect x="20" y="430" width="180" height="110" fill="none" stroke="#cbd5e1"/>',
        '<text x="26" y="444" font-size="11" fill="#475569">Alaska</text>',
        '<rect x="220" y="470" width="120" height="70" fill="none" stroke="#cbd5e1"/>',
        '<text x="226" y="484" font-size="11" fill="#475569">Hawaii</text>',
    ]
    for p in sorted(points, key=lambda p: p.zipcode):
        frame = _frame_of(p)
        lat = min(max(p.lat, frame.lat0), frame.lat1)
        lon = min(max(p.lon, frame.lon0), frame.lon1)
        x, y = frame.project(lat, lon)
        o = OUTCOMES[p.outcome]
        tip = escape(f"{p.zipcode} {p.label}: {o.label}")
        parts.append(
            f'<g class="pt pt-{o.key}" data-shape="{o.shape}" data-zipcode="{escape(p.zipcode)}">'
            f"<title>{tip}</title>{_shape(o, x, y)}</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_legend(keys: Sequence[str]) -> str:
    """A legend (list of shape + text label) for the outcome ``keys`` shown on a map."""
    items = []
    for key in keys:
        o = OUTCOMES[key]
        icon = (
            f'<svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true">'
            f"{_shape(o, 8, 8)}</svg>"
        )
        items.append(f"<li>{icon} {escape(o.label)}</li>")
    return '<ul class="legend">' + "".join(items) + "</ul>"
