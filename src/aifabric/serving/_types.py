"""What the load generator sends and what it records: shared by the load generator, protocols, checks and reports.

Times are seconds on one monotonic clock (``time.perf_counter``, which is CLOCK_MONOTONIC on Linux and so the
same in every worker process), relative to the run's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Mode = Literal["open", "closed"]
"""``open``: requests sent on a schedule, whatever the server does; ``closed``: a fixed number in flight."""
LatencyKind = Literal["e2e", "service", "ttft", "itl", "send_lag"]
"""Which latency: see :class:`Sample`."""
CheckId = Literal[
    "protocol",
    "input-validation",
    "latency",
    "throughput",
    "error-budget",
    "overload",
    "warmup",
    "streaming",
    "accuracy",
    "no-caching",
    "telemetry",
    "gpu-bounds",
]
"""The checks of a serving contract (spec/serving.md)."""
CheckOutcome = Literal["passed", "failed", "skipped", "invalid", "error"]
"""What a check found: ``invalid`` when the measurement cannot be trusted, ``error`` when it could not run."""


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request the load generator sends."""

    method: str
    path: str
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream: bool = False
    """The answer is a stream of server-sent events (OpenAI ``stream: true``): chunk times are recorded."""
    label: str = ""
    """What the request is, for the caller: a sample id of an evaluation set, a check's name."""
    keep_body: bool = False
    """Keep the answer's body in the sample (for accuracy checks); otherwise only its length is kept."""


@dataclass(slots=True)
class Sample:
    """What happened to one request.

    ``scheduled`` is when the request was due (open loop: its Poisson arrival; closed loop: when a slot freed up),
    ``sent`` when the client started writing it, ``first_byte`` when the first byte of the answer's body arrived,
    ``done`` when the answer was complete or the request failed. For a stream, ``chunks`` holds the arrival time of
    each event that carried output (tokens), in order.

    Latencies: end-to-end ``done - scheduled`` (measured from the scheduled time, so a client that falls behind
    cannot hide the server's stalls: no coordinated omission); service ``done - sent``; time to first token
    ``chunks[0] - scheduled``; inter-token latency, the gaps between consecutive chunks; send lag
    ``sent - scheduled``.
    """

    index: int
    label: str
    scheduled: float
    sent: float
    done: float
    first_byte: float | None = None
    status: int | None = None
    """The HTTP status, or None when no answer came (connection refused, reset, timed out)."""
    ok: bool = False
    """A 2xx answer, complete, with no error inside the stream."""
    error: str | None = None
    """Why the request failed: ``timeout``, ``connect``, ``http 503``, ``stream error: ...``..."""
    chunks: tuple[float, ...] = ()
    retry_after: float | None = None
    """The Retry-After header of a 429/503 answer, in seconds."""
    body: bytes | None = None
    size: int = 0
    """Bytes in the answer's body."""
