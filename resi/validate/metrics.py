"""The validator's Prometheus metrics: the registry, its feeds and the `/metrics` server.

The registry is plain data (the API's ``Counter``/``Gauge``/``Histogram``); it is fed through
seams rather than edits of the pipeline: ``MeteredSource`` wraps the listing source (spot-check
lookups), ``s3_event_hooks`` instrument the S3 HTTP client, and the loop reports each epoch's
phases, outcomes and weight settings. ``serve_metrics`` exposes it on ``--metrics-port``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web

from resi.api.metrics import Counter, Gauge, Histogram, Metric, render_all
from resi.errors import ParseError, SourceUnavailable
from resi.score.models import EpochResult, Reason
from resi.scrape.listing import Listing
from resi.scrape.source import ListingSource
from resi.validate.weights_keeper import WeightsPlan

log = logging.getLogger(__name__)

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PHASE_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# Which tier a reason code belongs to (for the per-tier outcome counter).
_TIER_OF: dict[str, str] = {
    **{
        r.value: "integrity"
        for r in (
            Reason.DOWNLOAD_UNVERIFIED,
            Reason.FILE_MISSING,
            Reason.HASH_MISMATCH,
            Reason.PARQUET_UNREADABLE,
            Reason.SCHEMA_MISMATCH,
            Reason.SCHEMA_VERSION_UNSUPPORTED,
            Reason.METADATA_MISMATCH,
            Reason.ROWS_MISMATCH,
        )
    },
    Reason.HONEYPOT.value: "honeypot",
    Reason.HONEYPOT_EMPTY.value: "honeypot",
    Reason.T1_TOO_FEW.value: "tier1",
    Reason.T1_TOO_MANY.value: "tier1",
    **{
        r.value: "tier2"
        for r in (
            Reason.T2_INCOMPLETE,
            Reason.T2_IMPLAUSIBLE,
            Reason.T2_INCONSISTENT,
            Reason.T2_DUPLICATES,
            Reason.DUPLICATE_COPY,
        )
    },
    **{
        r.value: "tier3"
        for r in (
            Reason.T3_PASS,
            Reason.T3_MISMATCH,
            Reason.T3_NOT_FOUND,
            Reason.T3_UNVERIFIABLE,
            Reason.T3_SKIPPED,
        )
    },
    Reason.LIAR_ELSEWHERE.value: "walk",
    Reason.RANKED.value: "walk",
}


def tier_of(reason: str) -> str:
    """The tier (integrity, honeypot, tier1, tier2, tier3, walk) a reason code belongs to."""
    return _TIER_OF.get(reason, "other")


@dataclass
class ValidatorMetrics:
    """Every metric `resi validate` exports."""

    epochs: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_epochs_total", "Epochs validated or failed.", ("result",)
        )
    )
    phase_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "resi_validator_phase_seconds",
            "Duration of each validation phase (score, publish) per epoch.",
            ("phase",),
            buckets=PHASE_BUCKETS,
        )
    )
    outcomes: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_outcomes_total",
            "Decision reason codes of validated files, by tier and reason.",
            ("tier", "reason"),
        )
    )
    lookups: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_lookups_total",
            "Spot-check lookups by result (found, gone, unverifiable).",
            ("result",),
        )
    )
    lookup_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "resi_validator_lookup_seconds", "Spot-check lookup latency in seconds."
        )
    )
    s3_bytes: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_s3_bytes_total",
            "Bytes moved to or from S3 by direction (download, upload).",
            ("direction",),
        )
    )
    s3_seconds: Histogram = field(
        default_factory=lambda: Histogram(
            "resi_validator_s3_request_seconds",
            "S3 request latency (to the response headers) by method.",
            ("method",),
        )
    )
    s3_errors: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_s3_errors_total", "S3 requests that failed before a response."
        )
    )
    agreement: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_consensus_agreement",
            "1 if this validator's hash equals the majority hash of its newest epoch, else 0.",
        )
    )
    consensus_share: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_consensus_share",
            "Share of validators on the majority hash of this validator's newest epoch.",
        )
    )
    diffs: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_consensus_diffs_total",
            "Epochs where this validator was in the minority and exported a diff, by cause "
            "(lookups: the majority's lookups reproduce its hash; rules: they do not).",
            ("cause",),
        )
    )
    weights_block: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_last_weights_block", "Block at which weights were last set."
        )
    )
    weights_time: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_last_weights_timestamp_seconds",
            "Unix time at which weights were last set.",
        )
    )
    weights_interval_seconds: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_weights_interval_seconds",
            "Expected seconds between weight settings (interval blocks × block time).",
        )
    )
    weights_set: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_weights_set_total",
            "Weight settings accepted by the chain, by source (epoch, burn).",
            ("source",),
        )
    )
    weights_age_epochs: Gauge = field(
        default_factory=lambda: Gauge(
            "resi_validator_weights_age_epochs",
            "Epochs completed since the newest validated epoch the weights come from.",
        )
    )
    chain_errors: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_chain_errors_total",
            "Chain calls that failed or were refused, by operation.",
            ("op",),
        )
    )
    api_errors: Counter = field(
        default_factory=lambda: Counter(
            "resi_validator_round_errors_total",
            "Validation rounds cut short by an unreachable API or S3.",
            ("kind",),
        )
    )

    def all(self) -> list[Metric]:
        return [
            self.epochs,
            self.phase_seconds,
            self.outcomes,
            self.lookups,
            self.lookup_seconds,
            self.s3_bytes,
            self.s3_seconds,
            self.s3_errors,
            self.agreement,
            self.consensus_share,
            self.diffs,
            self.weights_block,
            self.weights_time,
            self.weights_interval_seconds,
            self.weights_set,
            self.weights_age_epochs,
            self.chain_errors,
            self.api_errors,
        ]

    def render(self) -> str:
        """The whole registry in Prometheus text exposition format."""
        return render_all(self.all())

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block into ``resi_validator_phase_seconds{phase=name}`` (also on failure)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds.observe(time.perf_counter() - started, name)

    def record_result(self, result: EpochResult) -> None:
        """Count every decision's reason codes of one validated epoch."""
        for decision in result.decisions:
            for reason in decision.reasons:
                self.outcomes.inc(tier_of(reason.value), reason.value)

    def record_weights(self, block: int, plan: WeightsPlan) -> None:
        """A weight setting the chain accepted at ``block``."""
        self.weights_block.set(block)
        self.weights_time.set(time.time())
        self.weights_set.inc(plan.source)
        self.weights_age_epochs.set(-1 if plan.age_epochs is None else plan.age_epochs)

    def record_consensus(self, own_hash: str, consensus: Any) -> None:
        """Agreement with the published consensus view (``resi.api.schemas.Consensus``)."""
        self.consensus_share.set(float(consensus.agreement))
        self.agreement.set(1.0 if consensus.majority_hash == own_hash else 0.0)


# --------------------------------------------------------------------------- feeds


class MeteredSource:
    """A ``ListingSource`` that counts and times every lookup of the one it wraps."""

    def __init__(self, inner: ListingSource, metrics: ValidatorMetrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def search(self, zipcode: str) -> list[Listing]:
        return await self.inner.search(zipcode)

    async def lookup(self, listing: Listing) -> Listing | None:
        """The inner lookup; FOUND/GONE/UNVERIFIABLE counted, latency observed, errors re-raised."""
        started = time.perf_counter()
        try:
            found = await self.inner.lookup(listing)
        except (SourceUnavailable, ParseError):
            self.metrics.lookups.inc("unverifiable")
            raise
        finally:
            self.metrics.lookup_seconds.observe(time.perf_counter() - started)
        self.metrics.lookups.inc("found" if found is not None else "gone")
        return found

    async def aclose(self) -> None:
        await self.inner.aclose()


def s3_event_hooks(metrics: ValidatorMetrics) -> dict[str, list[Any]]:
    """httpx ``event_hooks`` that time S3 requests and count their bytes.

    Upload bytes come from the request's Content-Length, download bytes from the response's
    (streamed bodies are not buffered to count them).
    """

    async def on_request(request: httpx.Request) -> None:
        request.extensions["resi_started"] = time.perf_counter()
        size = request.headers.get("content-length")
        if size and size.isdigit() and request.method in ("POST", "PUT"):
            metrics.s3_bytes.inc("upload", amount=float(size))

    async def on_response(response: httpx.Response) -> None:
        started = response.request.extensions.get("resi_started")
        if isinstance(started, float):
            metrics.s3_seconds.observe(time.perf_counter() - started, response.request.method)
        size = response.headers.get("content-length")
        if response.request.method == "GET" and size and size.isdigit():
            metrics.s3_bytes.inc("download", amount=float(size))

    return {"request": [on_request], "response": [on_response]}


# --------------------------------------------------------------------------- server


@contextlib.asynccontextmanager
async def serve_metrics(metrics: ValidatorMetrics, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``GET /metrics`` on ``host:port`` (0 = a free port); yields the base URL."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render().encode(), headers={"Content-Type": PROMETHEUS_CONTENT_TYPE}
        )

    app = web.Application()
    app.router.add_get("/metrics", handler)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=False)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        url = f"http://{bound_host}:{bound_port}"
        log.info("validator metrics on %s/metrics", url)
        yield url
    finally:
        await runner.cleanup()
