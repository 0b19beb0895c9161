"""Rate limiting and circuit breaking for the tool guard: a token bucket per quota policy, a breaker per tool."""

from __future__ import annotations

import threading
from collections.abc import Callable

from aifabric.models.tools import RateLimitPolicy


class Bucket:
    """One quota policy as a token bucket: ``q`` tokens, refilled at ``q / w`` per second [TOOL-038].

    ``qu`` ``requests`` costs one token a call and ``content-bytes`` the size of the arguments; for
    ``concurrent-requests`` the bucket counts calls in flight instead, each returned by :meth:`release`.
    """

    __slots__ = ("_concurrent", "_lock", "_rate", "_stamp", "_tokens", "capacity", "name")

    def __init__(self, policy: RateLimitPolicy, now: float) -> None:
        self.name = policy.name
        self.capacity = float(policy.q)
        self._rate = policy.q / policy.w
        self._concurrent = policy.qu == "concurrent-requests"
        self._tokens = self.capacity
        self._stamp = now
        self._lock = threading.Lock()

    @property
    def concurrent(self) -> bool:
        """Whether the policy limits calls in flight rather than calls per window."""
        return self._concurrent

    def take(self, cost: float, now: float) -> float:
        """Spend ``cost`` tokens; 0.0 when spent, else the seconds until they will be there (never spent)."""
        with self._lock:
            if not self._concurrent:
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
            if cost <= self._tokens:
                self._tokens -= cost
                return 0.0
            if self._concurrent or cost > self.capacity or self._rate == 0:
                return 1.0 if self._concurrent or self.capacity else float("inf")
            return (cost - self._tokens) / self._rate

    def release(self, cost: float) -> None:
        """Give back what a call in flight held (``concurrent-requests`` only)."""
        if self._concurrent:
            with self._lock:
                self._tokens = min(self.capacity, self._tokens + cost)


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
