"""Rate limiting and circuit breaking for the tool guard: token buckets per partition, a breaker per tool."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from aifabric.models.tools import RateLimitPolicy

SWEEP_AT = 1024
"""Partitions a :class:`Quotas` holds before it first drops those whose buckets have refilled."""


class Bucket:
    """One quota policy as a token bucket: ``q`` tokens, refilled at ``q / w`` per second [TOOL-038].

    ``qu`` ``requests`` costs one token a call and ``content-bytes`` the size of the arguments; for
    ``concurrent-requests`` the bucket counts calls in flight instead, each returned by :meth:`release`.
    Not thread-safe on its own: :class:`Quotas` holds its lock around every use.
    """

    __slots__ = ("_concurrent", "_rate", "_stamp", "_tokens", "capacity", "name")

    def __init__(self, policy: RateLimitPolicy, now: float) -> None:
        self.name = policy.name
        self.capacity = float(policy.q)
        self._rate = policy.q / policy.w
        self._concurrent = policy.qu == "concurrent-requests"
        self._tokens = self.capacity
        self._stamp = now

    @property
    def concurrent(self) -> bool:
        """Whether the policy limits calls in flight rather than calls per window."""
        return self._concurrent

    def full(self, now: float) -> bool:
        """Whether the bucket is as a new one would be: refilled, and no call in flight."""
        if self._concurrent:
            return self._tokens >= self.capacity
        return self._tokens + (now - self._stamp) * self._rate >= self.capacity

    def take(self, cost: float, now: float) -> float:
        """Spend ``cost`` tokens; 0.0 when spent, else the seconds until they will be there (never spent)."""
        if not self._concurrent:
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self._rate)
            self._stamp = now
        if cost <= self._tokens:
            self._tokens -= cost
            return 0.0
        if cost > self.capacity or (self._rate == 0 and not self._concurrent):
            return float("inf")  # never: more than the bucket holds, or a quota of nothing
        if self._concurrent:
            return 1.0
        return (cost - self._tokens) / self._rate

    def release(self, cost: float) -> None:
        """Give back what a call in flight held (``concurrent-requests`` only)."""
        if self._concurrent:
            self.refund(cost)

    def refund(self, cost: float) -> None:
        """Give back ``cost`` tokens that a refused call took."""
        self._tokens = min(self.capacity, self._tokens + cost)


class Quotas:
    """A contract's quota policies, held to each partition of the calls apart [TOOL-040] [TOOL-041].

    Each partition (a principal, by default) gets its own buckets when its first call comes. Once more than
    :data:`SWEEP_AT` partitions are held, the partitions whose buckets are all full are dropped from time to time:
    a full bucket is what a new one would be, so no partition gains or loses quota by it.
    """

    __slots__ = ("_bytes", "_lock", "_parts", "_policies", "_sweep_at")

    def __init__(self, policies: Sequence[RateLimitPolicy]) -> None:
        self._policies = tuple(policies)
        self._bytes = tuple(p.qu == "content-bytes" for p in self._policies)
        self._parts: dict[str, list[Bucket]] = {}
        self._lock = threading.Lock()
        self._sweep_at = SWEEP_AT

    @property
    def counts_bytes(self) -> bool:
        """Whether a policy's unit is ``content-bytes``, so that a call's cost needs the size of its arguments."""
        return any(self._bytes)

    def __len__(self) -> int:
        return len(self._parts)

    def take(self, partition: str, size: int, now: float) -> tuple[list[tuple[Bucket, float]], str, float]:
        """Spend one call of ``size`` bytes from every policy of ``partition``, or none of them.

        Returns:
            What was spent, for :meth:`release`; and, where a policy refused, its name and the seconds until it
            would not, with nothing spent.
        """
        with self._lock:
            buckets = self._parts.get(partition)
            if buckets is None:
                if len(self._parts) >= self._sweep_at:
                    self._sweep(now)
                buckets = self._parts[partition] = [Bucket(p, now) for p in self._policies]
            taken: list[tuple[Bucket, float]] = []
            for bucket, by_size in zip(buckets, self._bytes, strict=True):
                cost = float(size) if by_size else 1.0
                wait = bucket.take(cost, now)
                if wait:
                    for spent, back in taken:
                        spent.refund(back)
                    return [], bucket.name, wait
                taken.append((bucket, cost))
            return taken, "", 0.0

    def release(self, taken: list[tuple[Bucket, float]]) -> None:
        """Give back what :meth:`take` spent on calls in flight (``concurrent-requests``)."""
        if taken:
            with self._lock:
                for bucket, cost in taken:
                    bucket.release(cost)

    def _sweep(self, now: float) -> None:
        self._parts = {k: v for k, v in self._parts.items() if not all(b.full(now) for b in v)}
        self._sweep_at = max(SWEEP_AT, 2 * len(self._parts))


class Breaker:
    """A circuit breaker: open after ``threshold`` consecutive failures, half-open after ``cooldown_s``.

    Closed, every attempt runs; open, none does until the cool-down has passed; half-open, one trial attempt
    runs, and its success closes the breaker and its failure opens it again for another cool-down.
    """

    __slots__ = ("_clock", "_failures", "_lock", "_opened_at", "_trial", "cooldown_s", "threshold")

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._clock() - self._opened_at >= self.cooldown_s else "open"

    def admit(self) -> float:
        """0.0 when an attempt may run now, else the seconds until the breaker half-opens."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            wait = self._opened_at + self.cooldown_s - self._clock()
            if wait > 0:
                return wait
            if self._trial:  # half-open, and the one trial attempt is running
                return self.cooldown_s
            self._trial = True
            return 0.0

    def abandon(self) -> None:
        """An attempt ended neither well nor badly (cancelled): a half-open breaker lets another trial run."""
        with self._lock:
            self._trial = False

    def success(self) -> None:
        """An attempt ended well: the breaker closes."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        """An attempt failed: one more consecutive failure, and the breaker opens at the threshold."""
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._trial = False
