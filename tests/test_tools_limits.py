"""Rate limits hold each partition of a tool's calls apart (spec/tools.md, TOOL-038, TOOL-040 and TOOL-041)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric.models.audit import AuditActor
from aifabric.tools import _limits
from aifabric.tools.guard import Guard, RateLimitedError
from tests.test_tools_guard import Sink, check_records, contract


def limited(*policies: dict[str, Any], clock: list[float] | None = None, **kw: Any) -> Guard:
    now = clock if clock is not None else [0.0]
    return Guard(contract(rateLimit={"policies": list(policies)}), lambda **a: {"v": 1}, clock=lambda: now[0], **kw)


def test_each_principal_has_a_quota_of_its_own() -> None:
    """TOOL-040, TOOL-041: two principals each get q calls; one spending its quota leaves the other's whole."""
    now = [0.0]
    guard = limited({"name": "per-caller", "q": 2, "w": 60}, clock=now)
    for _ in range(2):
        guard.call({"n": 1}, principal="alice")
    with pytest.raises(RateLimitedError) as info:
        guard.call({"n": 1}, principal="alice")
    assert info.value.error_class == "RATE_LIMITED" and info.value.retry_after == pytest.approx(30)
    assert "alice" in str(info.value)
    for _ in range(2):
        assert guard.call({"n": 1}, principal="bob") == {"v": 1}
    with pytest.raises(RateLimitedError):
        guard.call({"n": 1}, principal="bob")
    now[0] += 30
    guard.call({"n": 1}, principal="alice")
    with pytest.raises(RateLimitedError):
        guard.call({"n": 1}, principal="alice")


def test_anonymous_callers_share_one_partition_and_a_principal_is_its_id() -> None:
    """TOOL-040: unauthenticated callers are one partition; a principal's partition is its id, however given."""
    guard = limited({"name": "per-caller", "q": 1, "w": 60})
    guard.call({"n": 1}, principal=None)
    with pytest.raises(RateLimitedError) as info:
        guard.call({"n": 1}, principal=None)
    assert "anonymous" in str(info.value)
    guard.call({"n": 1}, principal=AuditActor(type="service", id="svc"))
    with pytest.raises(RateLimitedError):
        guard.call({"n": 1}, principal={"type": "service", "id": "svc"})


def test_the_operator_may_partition_by_another_key_or_not_at_all() -> None:
    """TOOL-040: ``partition`` maps a principal to the key its quota is kept under: a tenant, or one for all."""
    shared = limited({"name": "global", "q": 1, "w": 60}, partition=lambda actor: "")
    shared.call({"n": 1}, principal="alice")
    with pytest.raises(RateLimitedError):
        shared.call({"n": 1}, principal="bob")

    def tenant(actor: AuditActor | None) -> str:
        return actor.id.split("@")[-1] if actor is not None else ""

    by_tenant = limited({"name": "per-tenant", "q": 1, "w": 60}, partition=tenant)
    by_tenant.call({"n": 1}, principal="alice@acme")
    with pytest.raises(RateLimitedError):
        by_tenant.call({"n": 1}, principal="bob@acme")
    by_tenant.call({"n": 1}, principal="carol@initech")


@settings(max_examples=100, deadline=None)
@given(
    q=st.integers(0, 4),
    callers=st.lists(st.sampled_from(["alice", "bob", "carol", None]), max_size=30),
)
def test_each_partition_spends_only_its_own_quota_in_any_order(q: int, callers: list[str | None]) -> None:
    """TOOL-041: however calls interleave, each partition's first q calls in a window succeed and no others."""
    audit = Sink()
    guard = limited({"name": "per-caller", "q": q, "w": 60}, {"name": "burst", "q": 100, "w": 1}, audit=audit)
    allowed: dict[str | None, int] = {}
    for who in callers:
        try:
            guard.call({"n": 1}, principal=who)
        except RateLimitedError as exc:
            assert allowed.get(who, 0) == q
            assert exc.retry_after is None if q == 0 else exc.retry_after == pytest.approx(60 / q)
        else:
            allowed[who] = allowed.get(who, 0) + 1
    assert allowed == {who: min(q, callers.count(who)) for who in set(callers) if q}
    assert [r["outcome"] for r in audit.items].count("success") == sum(allowed.values())


def test_a_refused_call_spends_no_quota() -> None:
    """TOOL-038: a call refused by one policy takes nothing from the partition's other policies."""
    guard = limited({"name": "minute", "q": 3, "w": 60}, {"name": "burst", "q": 1, "w": 1})
    now = [0.0]
    guard.clock = lambda: now[0]
    guard.call({"n": 1}, principal="alice")
    for _ in range(5):
        with pytest.raises(RateLimitedError) as info:
            guard.call({"n": 1}, principal="alice")
        assert "burst" in str(info.value)
    now[0] += 1
    guard.call({"n": 1}, principal="alice")
    now[0] += 1
    guard.call({"n": 1}, principal="alice")


def test_content_bytes_are_counted_per_partition() -> None:
    """TOOL-040: a content-bytes quota is spent by the size of each partition's own arguments."""
    guard = limited({"name": "bytes", "q": 16, "w": 60, "qu": "content-bytes"})
    guard.call({"n": 1}, principal="alice")  # {"n":1} is 7 bytes
    guard.call({"n": 2}, principal="alice")
    with pytest.raises(RateLimitedError):
        guard.call({"n": 3}, principal="alice")
    guard.call({"n": 3}, principal="bob")


def test_concurrent_requests_are_counted_per_partition() -> None:
    """TOOL-040, TOOL-041: a call in flight holds its partition's concurrency slot and nobody else's."""
    entered, leave = threading.Event(), threading.Event()

    def slow(**_: Any) -> Any:
        entered.set()
        leave.wait(10)
        return {"v": 1}

    guard = Guard(
        contract(rateLimit={"policies": [{"name": "inflight", "q": 1, "w": 1, "qu": "concurrent-requests"}]}), slow
    )
    results: list[Any] = []
    held = threading.Thread(target=lambda: results.append(guard.call({"n": 1}, principal="alice")))
    held.start()
    assert entered.wait(10)
    with pytest.raises(RateLimitedError) as info:
        guard.call({"n": 1}, principal="alice")
    assert info.value.retry_after == 1.0
    entered.clear()
    other = threading.Thread(target=lambda: results.append(guard.call({"n": 1}, principal="bob")))
    other.start()
    assert entered.wait(10)
    leave.set()
    held.join()
    other.join()
    assert results == [{"v": 1}, {"v": 1}]
    assert guard.call({"n": 1}, principal="alice") == {"v": 1}
    guard.close()


def test_partitions_are_forgotten_only_once_refilled(monkeypatch: pytest.MonkeyPatch) -> None:
    """TOOL-041: to bound memory a guard drops partitions whose quota has refilled, never one still spent."""
    monkeypatch.setattr(_limits, "SWEEP_AT", 4)
    now = [0.0]
    audit, lineage = Sink(), Sink()
    guard = limited({"name": "per-caller", "q": 1, "w": 10}, clock=now, audit=audit, lineage=lineage)
    for i in range(3):
        guard.call({"n": 1}, principal=f"p{i}")
    now[0] += 10  # p0..p2 have refilled
    guard.call({"n": 1}, principal="spent")
    quotas = guard._quotas
    assert quotas is not None
    assert len(quotas) == 4
    guard.call({"n": 1}, principal="p9")  # the fifth partition: the sweep drops p0..p2, keeps "spent"
    assert len(quotas) == 2
    with pytest.raises(RateLimitedError):
        guard.call({"n": 1}, principal="spent")
    for i in range(20):  # spent partitions are all kept, however many
        guard.call({"n": 1}, principal=f"q{i}")
    assert len(quotas) == 22
    with pytest.raises(RateLimitedError):
        guard.call({"n": 1}, principal="spent")
    check_records(audit, lineage, 27)
