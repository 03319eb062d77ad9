"""A tiny hand-written Prometheus registry: labelled counters and one latency histogram.

Pure data and text rendering (exposition format 0.0.4); the API's middleware feeds it.
Single event loop per process, so no locks are needed.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field

LabelValues = tuple[str, ...]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: LabelValues, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _num(value: float) -> str:
    if math.isinf(value):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class Counter:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    values: dict[LabelValues, float] = field(default_factory=lambda: defaultdict(float))

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] += amount

    def get(self, *labels: str) -> float:
        """The current value for ``labels`` (0 if never incremented)."""
        return self.values.get(labels, 0.0)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for labels, value in sorted(self.values.items()):
            out.append(f"{self.name}{_labels(self.label_names, labels)} {_num(value)}")
        return out


@dataclass
class Histogram:
    name: str
    help: str
    label_names: tuple[str, ...] = ()
    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: dict[LabelValues, list[int]] = field(default_factory=dict)
    sums: dict[LabelValues, float] = field(default_factory=lambda: defaultdict(float))

    def observe(self, value: float, *labels: str) -> None:
        row = self.counts.get(labels)
        if row is None:
            row = self.counts[labels] = [0] * (len(self.buckets) + 1)
        row[bisect_left(self.buckets, value)] += 1  # first bound >= value; past the last: +Inf
        self.sums[labels] += value

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, row in sorted(self.counts.items()):
            running = 0
            for bound, n in zip((*self.buckets, math.inf), row, strict=True):
                running += n
                le = f'le="{_num(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, labels, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, labels)} {self.sums[labels]!r}")
            out.append(f"{self.name}_count{_labels(self.label_names, labels)} {running}")
        return out


@dataclass
class Gauge:
    """A value that goes up and down (last write wins), optionally labelled."""

    name: str
    help: str
    label_names: tuple[str, ...] = ()
    values: dict[LabelValues, float] = field(default_factory=dict)

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = float(value)

    def get(self, *labels: str) -> float | None:
        """The current value for ``labels`` (None if never set)."""
        return self.values.get(labels)

    def render(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        for labels, value in sorted(self.values.items()):
            out.append(f"{self.name}{_labels(self.label_names, labels)} {_num(value)}")
        return out


Metric = Counter | Gauge | Histogram


def render_all(metrics: list[Metric]) -> str:
    """``metrics`` in Prometheus text exposition format (one trailing newline)."""
    lines: list[str] = []
    for metric in metrics:
        lines += metric.render()
    return "\n".join(lines) + "\n"


SELECTION_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class ApiMetrics:
    """Every metric the API exports."""

    requests: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_requests_total", "HTTP requests by route and status.", ("route", "status")
        )
    )
    latency: Histogram = field(
        default_factory=lambda: Histogram(
            "resi_api_request_seconds", "Request latency in seconds by route.", ("route",)
        )
    )
    auth_failures: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_auth_failures_total", "Refused requests by reason code.", ("reason",)
        )
    )
    commits: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_commits_total", "Accepted miner commits (zipcode files)."
        )
    )
    epoch_transitions: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_epoch_transitions_total",
            "Epoch rows created or moved to a new state by this process.",
            ("kind",),
        )
    )

    transition_failures: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_epoch_transition_failures_total",
            "Epoch manager passes that failed (store or epoch error); each one is an incident.",
        )
    )
    selection_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "resi_api_selection_seconds",
            "Duration of epoch manager passes that created (selected) epochs.",
            buckets=SELECTION_BUCKETS,
        )
    )
    # Per-epoch figures are exported only once the epoch is COMPLETED: the honeypot count and
    # the achieved sum (which, beside the public expected counts, hints at the honeypots' sizes)
    # must never be visible while miners can still act on them.
    completed_zipcodes: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_completed_epoch_zipcodes",
            "Zipcodes of the newest COMPLETED epoch, honeypots included.",
        )
    )
    completed_honeypots: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_completed_epoch_honeypots", "Honeypot zipcodes of the newest COMPLETED epoch."
        )
    )
    completed_achieved: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_completed_epoch_achieved_listings",
            "Expected listings summed over the newest COMPLETED epoch's real zipcodes.",
        )
    )
    completed_target: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_completed_epoch_target_listings",
            "The selection target of the newest COMPLETED epoch.",
        )
    )
    completed_epoch_start: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_completed_epoch_start_timestamp_seconds",
            "Start (unix time) of the newest COMPLETED epoch these gauges describe.",
        )
    )
    selection_paused: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_api_selection_paused", "1 while an operator has paused selection, else 0."
        )
    )
    admin_actions: Counter = field(
        default_factory=lambda: Counter(
            "resi_api_admin_actions_total", "Signed operator actions by kind.", ("action",)
        )
    )

    def render(self) -> str:
        """The whole registry in Prometheus text exposition format."""
        return render_all(
            [
                self.requests,
                self.latency,
                self.auth_failures,
                self.commits,
                self.epoch_transitions,
                self.transition_failures,
                self.selection_seconds,
                self.completed_zipcodes,
                self.completed_honeypots,
                self.completed_achieved,
                self.completed_target,
                self.completed_epoch_start,
                self.selection_paused,
                self.admin_actions,
            ]
        )
