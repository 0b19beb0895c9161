"""The tool guard holds every call to its contract (spec/tools.md, TOOL-030 to TOOL-039)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aifabric.models.lineage import AICall
from aifabric.models.tools import ToolContract
from aifabric.tools.guard import (
    AllowRules,
    ConflictError,
    Decision,
    ForbiddenError,
    Guard,
    InvalidInputError,
    RateLimitedError,
    Rule,
    SQLiteIdempotencyStore,
    ToolCallError,
    ToolFailedError,
    ToolTimeoutError,
    UnauthorizedError,
    UnavailableError,
)
from aifabric.validation import validate

INPUT = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": 0}, "tag": {"type": "string", "maxLength": 5}},
    "required": ["n"],
    "additionalProperties": False,
}
OUTPUT = {"type": "object", "properties": {"v": {"type": "integer"}}, "required": ["v"]}
SPEC_CLASSES = {"INVALID_INPUT", "UNAUTHORIZED", "FORBIDDEN", "RATE_LIMITED", "TIMEOUT", "CONFLICT", "UNAVAILABLE"}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


def _record(into: list[Any], args: Any) -> dict[str, int]:
    into.append(args)
    return {"v": 1}


class Sink:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def append(self, item: dict[str, Any]) -> None:
        self.items.append(item)


def contract(**extra: Any) -> ToolContract:
    doc: dict[str, Any] = {
        "name": "t",
        "description": "A test tool.",
        "version": "1.0.0",
        "owner": {"type": "service", "id": "tests"},
        "inputSchema": INPUT,
        "outputSchema": OUTPUT,
        "sideEffect": "none",
        "timeoutS": 5,
        "errors": [
            {"code": "UNAVAILABLE", "retryable": True},
            {"code": "INSUFFICIENT_FUNDS", "retryable": False},
        ],
    }
    doc.update(extra)
    return ToolContract.model_validate(doc)


def retry(max_attempts: int = 3, on: tuple[str, ...] = ("UNAVAILABLE",), **backoff: Any) -> dict[str, Any]:
    return {
        "maxAttempts": max_attempts,
        "backoff": {"initialS": 0.001, "maxS": 0.002, "multiplier": 2, "jitter": "full", **backoff},
        "honourRetryAfter": True,
        "on": list(on),
    }


def guarded(c: ToolContract, fn: Any, **kw: Any) -> tuple[Guard, Sink, Sink]:
    audit, lineage = Sink(), Sink()
    return Guard(c, fn, audit=audit, lineage=lineage, **kw), audit, lineage


def check_records(audit: Sink, lineage: Sink, n: int) -> None:
    assert len(audit.items) == len(lineage.items) == n
    for record in audit.items:
        validate(record)
        assert record["classUid"] == 6003 and record["action"] == "tool.call"
    for entry in lineage.items:
        AICall.model_validate(entry)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=JSON)
def test_only_valid_arguments_reach_the_tool(args: Any) -> None:
    """TOOL-030: arbitrary arguments reach the tool only when valid; others end INVALID_INPUT."""
    seen: list[Any] = []
    guard, audit, lineage = guarded(contract(), lambda **a: _record(seen, a))
    valid = isinstance(args, dict) and jsonschema.Draft202012Validator(INPUT).is_valid(args)
    if valid:
        assert guard.call(args, principal="u") == {"v": 1}
        assert seen == [args]
    else:
        with pytest.raises(InvalidInputError) as info:
            guard.call(args, principal="u")
        assert info.value.error_class == "INVALID_INPUT" and not seen
    check_records(audit, lineage, 1)


@settings(max_examples=150, deadline=None)
@given(result=JSON)
def test_results_not_valid_against_the_output_schema_are_tool_errors(result: Any) -> None:
    """TOOL-031: a result not valid against outputSchema ends TOOL_ERROR and is not passed on."""
    guard, audit, lineage = guarded(contract(), lambda **a: result)
    if isinstance(result, dict) and jsonschema.Draft202012Validator(OUTPUT).is_valid(result):
        assert guard.call({"n": 1}, principal="u") == result
    else:
        with pytest.raises(ToolFailedError) as info:
            guard.call({"n": 1}, principal="u")
        assert info.value.error_class == "TOOL_ERROR"
    check_records(audit, lineage, 1)


@settings(max_examples=60, deadline=None)
@given(
    exc=st.sampled_from([ValueError("x"), KeyError("k"), RuntimeError()])
    | st.builds(
        lambda code: ToolCallError("boom", error_class=code),
        st.sampled_from(["INSUFFICIENT_FUNDS", "NOT_DECLARED", "UNAVAILABLE", "TIMEOUT", "FORBIDDEN"]),
    )
)
def test_errors_are_declared_classes(exc: Exception) -> None:
    """TOOL-039: a failed call ends with a class the contract declares, else TOOL_ERROR."""

    def fn(**_: Any) -> Any:
        raise exc

    guard, audit, lineage = guarded(contract(), fn)
    with pytest.raises(ToolCallError) as info:
        guard.call({"n": 1}, principal="u")
    declared = {"UNAVAILABLE", "INSUFFICIENT_FUNDS"}
    code = getattr(exc, "error_class", None)
    assert info.value.error_class == (code if code in declared else "TOOL_ERROR")
    assert info.value.error_class in SPEC_CLASSES | declared | {"TOOL_ERROR"}
    assert audit.items[0]["outcome"] == "failure"
    assert lineage.items[0]["error.type"] == info.value.error_class
    check_records(audit, lineage, 1)


def test_unauthenticated_and_unscoped_calls_are_denied_and_audited() -> None:
    """TOOL-032, TOOL-033: no principal, a missing scope, a missing consent, a policy refusal: denied."""
    calls: list[Any] = []
    c = contract(auth={"required": True, "scopes": ["s:read"]}, consent={"purposes": ["billing"]})
    rules = AllowRules((Rule(principal="alice"),))
    guard, audit, lineage = guarded(c, lambda **a: _record(calls, a), policy=rules)
    cases: list[tuple[Any, list[str], list[str], type[ToolCallError], str]] = [
        (None, ["s:read"], ["billing"], UnauthorizedError, "authenticated"),
        ("alice", [], ["billing"], ForbiddenError, "s:read"),
        ("alice", ["s:read"], [], ForbiddenError, "billing"),
        ("bob", ["s:read"], ["billing"], ForbiddenError, "no allow rule"),
    ]
    for principal, scopes, purposes, error, reason in cases:
        with pytest.raises(error):
            guard.call({"n": 1}, principal=principal, scopes=scopes, purposes=purposes)
        record = audit.items[-1]
        assert record["outcome"] == "denied" and record["policy"]["effect"] == "deny"
        assert any(reason in r for r in record["policy"]["reasons"])
    assert not calls
    assert guard.call({"n": 1}, principal="alice", scopes=["s:read"], purposes=["billing"]) == {"v": 1}
    assert audit.items[-1]["policy"]["effect"] == "allow"
    assert audit.items[-1]["consent"]["purposes"] == ["billing"]
    check_records(audit, lineage, 5)


def test_retries_only_where_allowed() -> None:
    """TOOL-034, TOOL-036: retries on a listed retryable class, up to maxAttempts, and never unkeyed writes."""
    count = 0

    def flaky(**_: Any) -> Any:
        nonlocal count
        count += 1
        if count < 3:
            raise UnavailableError("busy")
        return {"v": count}

    guard, audit, _ = guarded(contract(retry=retry()), flaky)
    assert guard.call({"n": 1}, principal="u") == {"v": 3}
    assert audit.items[0]["attributes"]["attempts"] == 3

    def down(**_: Any) -> Any:
        nonlocal count
        count += 1
        raise UnavailableError("down")

    for c, key, expected in [
        (contract(retry=retry()), None, 3),  # maxAttempts at most
        (
            contract(sideEffect="destructive", idempotency={"key": "required", "keyLifetimeS": 60}, retry=retry()),
            "k",
            3,
        ),
        (contract(sideEffect="additive", idempotency={"key": "optional", "keyLifetimeS": 60}), None, 1),
        (contract(retry=retry(on=("INSUFFICIENT_FUNDS",))), None, 1),  # not listed in retry.on
    ]:
        count = 0
        with pytest.raises(UnavailableError):
            Guard(c, down).call({"n": 1}, principal="u", idempotency_key=key)
        assert count == expected


def test_retry_after_is_honoured_and_never_passes_the_timeout() -> None:
    """TOOL-036: a Retry-After overrides the back-off; a wait past the timeout ends the call instead."""
    stamps: list[float] = []

    def slow_down(**_: Any) -> Any:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            raise UnavailableError("later", retry_after=0.2)
        return {"v": 1}

    Guard(contract(retry=retry()), slow_down).call({"n": 1}, principal="u")
    assert stamps[1] - stamps[0] >= 0.2
    stamps.clear()

    def never(**_: Any) -> Any:
        stamps.append(time.monotonic())
        raise UnavailableError("much later", retry_after=60)

    with pytest.raises(UnavailableError):
        Guard(contract(retry=retry()), never).call({"n": 1}, principal="u")
    assert len(stamps) == 1


def test_timeout_sync_and_async() -> None:
    """TOOL-037: a call not ended within timeoutS ends TIMEOUT, sync or async."""

    def sleepy(**_: Any) -> Any:
        time.sleep(0.5)
        return {"v": 1}

    async def asleep(**_: Any) -> Any:
        await asyncio.sleep(0.5)
        return {"v": 1}

    c = contract(timeoutS=0.05)
    guard, audit, _ = guarded(c, sleepy)
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 1}, principal="u")
    assert audit.items[0]["attributes"]["errorClass"] == "TIMEOUT"
    with pytest.raises(ToolTimeoutError):
        asyncio.run(Guard(c, asleep).acall({"n": 1}, principal="u"))
    guard.close()


def test_rate_limit_refuses_over_quota_and_refills() -> None:
    """TOOL-038: more than q calls in w seconds are refused RATE_LIMITED with a Retry-After."""
    now = [0.0]
    guard = Guard(
        contract(rateLimit={"policies": [{"name": "burst", "q": 3, "w": 1}]}),
        lambda **a: {"v": 1},
        clock=lambda: now[0],
    )
    for _ in range(3):
        guard.call({"n": 1}, principal="u")
    with pytest.raises(RateLimitedError) as info:
        guard.call({"n": 1}, principal="u")
    assert info.value.retry_after == pytest.approx(1 / 3)
    now[0] += 0.34
    guard.call({"n": 1}, principal="u")


def test_breaker_opens_and_half_opens() -> None:
    """The breaker opens after N consecutive failures and lets one trial through after the cool-down."""
    now = [0.0]
    fail = [True]
    calls = 0

    def fn(**_: Any) -> Any:
        nonlocal calls
        calls += 1
        if fail[0]:
            raise RuntimeError("down")
        return {"v": 1}

    guard = Guard(contract(), fn, clock=lambda: now[0], breaker_threshold=3, breaker_cooldown_s=10)
    for _ in range(3):
        with pytest.raises(ToolFailedError):
            guard.call({"n": 1}, principal="u")
    assert guard.breaker.state == "open"
    with pytest.raises(UnavailableError) as info:
        guard.call({"n": 1}, principal="u")
    assert calls == 3 and info.value.retry_after == 10
    now[0] += 10
    assert guard.breaker.state == "half-open"
    with pytest.raises(ToolFailedError):  # the trial fails: open again
        guard.call({"n": 1}, principal="u")
    assert guard.breaker.state == "open"
    now[0] += 10
    fail[0] = False
    assert guard.call({"n": 1}, principal="u") == {"v": 1}
    assert guard.breaker.state == "closed"


def test_idempotency_key_semantics() -> None:
    """TOOL-035: missing key 400, in flight 409, other arguments 422, repeat gets the first result."""
    c = contract(sideEffect="additive", idempotency={"key": "required", "keyLifetimeS": 60})
    runs = 0
    release = threading.Event()

    def fn(**args: Any) -> Any:
        nonlocal runs
        runs += 1
        if args.get("tag") == "wait":
            release.wait(5)
        return {"v": runs}

    guard, audit, lineage = guarded(c, fn)
    with pytest.raises(InvalidInputError) as missing:
        guard.call({"n": 1}, principal="u")
    assert missing.value.status == 400
    assert guard.call({"n": 1}, principal="u", idempotency_key="a") == {"v": 1}
    assert guard.call({"n": 1}, principal="u", idempotency_key="a") == {"v": 1}
    with pytest.raises(InvalidInputError) as other:
        guard.call({"n": 2}, principal="u", idempotency_key="a")
    assert other.value.status == 422
    worker = threading.Thread(
        target=guard.call, args=({"n": 1, "tag": "wait"},), kwargs={"principal": "u", "idempotency_key": "b"}
    )
    worker.start()
    while runs < 2:
        time.sleep(0.001)
    with pytest.raises(ConflictError):
        guard.call({"n": 1, "tag": "wait"}, principal="u", idempotency_key="b")
    release.set()
    worker.join()
    assert runs == 2
    check_records(audit, lineage, 6)


def test_thousand_concurrent_calls_with_a_hundred_keys_run_the_tool_a_hundred_times() -> None:
    """TOOL-035: 1,000 concurrent calls on 100 keys run the tool exactly 100 times; CONFLICT is retried."""
    c = contract(
        sideEffect="additive",
        idempotency={"key": "required", "keyLifetimeS": 60},
        retry=retry(max_attempts=10, on=("CONFLICT",), initialS=0.01, maxS=0.05),
        errors=[{"code": "CONFLICT", "retryable": True}],
    )
    runs: dict[int, int] = {}

    async def fn(**args: Any) -> Any:
        runs[args["n"]] = runs.get(args["n"], 0) + 1
        await asyncio.sleep(0.005)
        return {"v": args["n"]}

    guard, audit, _ = guarded(c, fn)

    async def main() -> list[Any]:
        calls = [guard.acall({"n": i % 100}, principal="u", idempotency_key=str(i % 100)) for i in range(1000)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert sum(runs.values()) == 100 and set(runs) == set(range(100))
    ok = [r for r in results if isinstance(r, dict)]
    assert all(isinstance(r, ConflictError) for r in results if not isinstance(r, dict))
    assert len(ok) > 900 and all(r == {"v": i % 100} for i, r in enumerate(results) if isinstance(r, dict))
    assert len(audit.items) == 1000


def test_sqlite_idempotency_store_survives_reopening(tmp_path: Path) -> None:
    """TOOL-035: a key completed before the store was closed still replays its first result after reopening."""
    c = contract(sideEffect="destructive", idempotency={"key": "required", "keyLifetimeS": 60})
    runs = 0

    def fn(**_: Any) -> Any:
        nonlocal runs
        runs += 1
        return {"v": runs}

    store = SQLiteIdempotencyStore(tmp_path / "keys.db")
    assert Guard(c, fn, idempotency=store).call({"n": 1}, principal="u", idempotency_key="k") == {"v": 1}
    store.close()
    store = SQLiteIdempotencyStore(tmp_path / "keys.db")
    guard = Guard(c, fn, idempotency=store)
    assert guard.call({"n": 1}, principal="u", idempotency_key="k") == {"v": 1}
    with pytest.raises(InvalidInputError):
        guard.call({"n": 9}, principal="u", idempotency_key="k")
    assert runs == 1
    store.close()


def test_a_declared_tool_guarded_into_an_audit_log(tmp_path: Path) -> None:
    """[TOOL-039] A ``@tool`` function runs with its arguments as keywords, and each call, allowed or denied, is an
    entry of a real audit log that verifies against its checkpoint."""
    from aifabric.audit import Checkpoint, open_log, verify
    from aifabric.tools import tool

    @tool(version="1.0.0", owner={"type": "service", "id": "search"}, side_effect="none", scopes=["orders:read"])
    def search(q: str, limit: int = 10) -> dict[str, int]:
        """Count the hits.

        Args:
            q: the query.
            limit: the most hits.
        """
        return {"hits": min(len(q), limit)}

    with open_log(tmp_path / "audit", origin="example.com/tools") as log:
        guard = Guard(search.contract, search, audit=log)
        assert guard.call({"q": "abcd", "limit": 3}, principal="alice", scopes=["orders:read"]) == {"hits": 3}
        with pytest.raises(ToolCallError):
            guard.call({"q": "abcd"}, principal="alice", scopes=[])
        assert [e.record["outcome"] for e in log] == ["success", "denied"]
        verify(log, Checkpoint("example.com/tools", log.size, log.root()))


def test_inline_tool_runs_on_the_callers_thread_and_an_overrun_is_a_timeout() -> None:
    """TOOL-042: an inline tool runs on the caller's thread; an attempt ending past timeoutS is TIMEOUT, its result
    and error dropped, and no attempt starts after it."""
    now = [0.0]
    threads: list[int] = []

    def slow(n: int, **_: Any) -> Any:
        threads.append(threading.get_ident())
        now[0] += n  # the tool takes n seconds of the guard's clock
        if n > 100:
            raise ToolCallError("late and failed", error_class="UNAVAILABLE")
        return {"v": n}

    c = contract(retry=retry(on=("UNAVAILABLE", "TIMEOUT")), timeoutS=10)
    guard, audit, _ = guarded(c, slow, inline=True, clock=lambda: now[0])
    assert guard.call({"n": 3}, principal="u") == {"v": 3}
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 11}, principal="u")
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 200}, principal="u")
    assert threads == [threading.get_ident()] * 3
    assert [r["attributes"] for r in audit.items] == [
        {"attempts": 1},
        {"attempts": 1, "errorClass": "TIMEOUT"},
        {"attempts": 1, "errorClass": "TIMEOUT"},
    ]


def test_inline_guard_starts_no_attempt_past_the_deadline() -> None:
    """TOOL-042: retried attempts run until one ends past the deadline, which is TIMEOUT; once the deadline has
    passed, no attempt starts."""
    now = [0.0]
    runs: list[int] = []

    def flaky(**_: Any) -> Any:
        runs.append(1)
        now[0] += 4
        raise ToolCallError("down", error_class="UNAVAILABLE", retry_after=0.5)

    guard = Guard(contract(retry=retry(max_attempts=5), timeoutS=10), flaky, inline=True, clock=lambda: now[0])
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 1}, principal="u")
    assert len(runs) == 3

    class Slow:
        def decide(self, *_: Any) -> Decision:
            now[0] += 11
            return Decision(True)

    runs.clear()
    guard = Guard(contract(timeoutS=10), flaky, inline=True, clock=lambda: now[0], policy=Slow())
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 1}, principal="u")
    assert runs == []


def test_a_queued_sync_call_whose_caller_gave_up_never_runs() -> None:
    """TOOL-037: with every worker busy a call times out in the queue, and its tool is then never run."""
    release = threading.Event()
    runs: list[int] = []

    def blocking(n: int, **_: Any) -> Any:
        runs.append(n)
        if n == 1:
            release.wait(10)
        return {"v": n}

    guard = Guard(contract(timeoutS=0.05), blocking, max_workers=1)
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 1}, principal="u")
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 2}, principal="u")
    release.set()
    guard.contract = contract(timeoutS=10)
    assert guard.call({"n": 3}, principal="u") == {"v": 3}
    assert runs == [1, 3]
    guard.close()


def test_sync_tool_through_acall_and_the_tools_own_timeout_error() -> None:
    """TOOL-039: acall runs a sync tool in a worker; a TimeoutError the tool raises itself is a TOOL_ERROR."""

    def sync(n: int, **_: Any) -> Any:
        if n == 0:
            raise TimeoutError("the tool's own")
        return {"v": n}

    async def own_timeout(**_: Any) -> Any:
        raise TimeoutError("the tool's own")

    guard = Guard(contract(), sync)
    assert asyncio.run(guard.acall({"n": 4}, principal="u")) == {"v": 4}
    for g in (guard, Guard(contract(), own_timeout)):
        with pytest.raises(ToolFailedError):
            asyncio.run(g.acall({"n": 0}, principal="u"))
        with pytest.raises(ToolFailedError):
            g.call({"n": 0}, principal="u")
    guard.close()
    assert guard.call({"n": 5}, principal="u") == {"v": 5}  # a closed guard starts new workers
    guard.close()


def test_idle_workers_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard's worker threads end once idle, so an unclosed guard holds none for long."""
    from aifabric.tools import _workers

    monkeypatch.setattr(_workers, "IDLE_S", 0.01)
    guard = Guard(contract(), lambda **a: {"v": 1})
    assert guard.call({"n": 1}, principal="u") == {"v": 1}
    for _ in range(1000):
        if guard._workers.count == 0:
            break
        time.sleep(0.01)
    assert guard._workers.count == 0
    assert guard.call({"n": 1}, principal="u") == {"v": 1}


def test_workers_after_a_backlog_and_an_idle_exit_still_run_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job queued while every worker was busy must not leave a phantom idle worker behind: once the real ones
    have ended idle, the next job starts a new one instead of waiting in the queue for nobody."""
    from aifabric.tools import _workers

    monkeypatch.setattr(_workers, "IDLE_S", 0.01)
    release = threading.Event()
    workers = _workers.Workers(1, "test")
    first = workers.submit(lambda: release.wait(10), {})
    second = workers.submit(lambda: "queued", {})  # the one worker is busy: a backlog of one
    release.set()
    assert first.done.acquire(timeout=10) and second.done.acquire(timeout=10)
    for _ in range(1000):
        if workers.count == 0:
            break
        time.sleep(0.01)
    assert workers.count == 0
    after = workers.submit(lambda: "after", {})
    assert after.done.acquire(timeout=5) and after.outcome() == "after"
    workers.close()


def test_a_cancelled_trial_does_not_keep_the_breaker_shut() -> None:
    """A half-open breaker whose one trial is cancelled lets the next call try, instead of refusing for ever."""
    now = [0.0]
    started = threading.Event()

    async def tool(n: int, **_: Any) -> Any:
        if n == 0:
            raise RuntimeError("down")
        started.set()
        await asyncio.sleep(10)
        return {"v": n}

    guard = Guard(contract(), tool, clock=lambda: now[0], breaker_threshold=1, breaker_cooldown_s=10)
    with pytest.raises(ToolFailedError):
        asyncio.run(guard.acall({"n": 0}, principal="u"))
    now[0] = 100.0  # past the cool-down: half-open

    async def cancelled_trial() -> None:
        task = asyncio.create_task(guard.acall({"n": 1}, principal="u"))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancelled_trial())
    assert guard.breaker.admit() == 0.0  # another trial may run


def test_a_call_costing_more_than_the_whole_quota_is_refused_for_good() -> None:
    """[TOOL-038] Arguments larger than a content-bytes quota can never pass: no Retry-After invites a retry."""
    guard = Guard(
        contract(rateLimit={"policies": [{"name": "bytes", "q": 10, "w": 60, "qu": "content-bytes"}]}),
        lambda n, **_: {"v": n},
    )
    with pytest.raises(RateLimitedError) as info:
        guard.call({"n": 10**30}, principal="u")
    assert info.value.retry_after is None


def test_a_timed_out_call_whose_tool_still_runs_keeps_its_concurrency_slot() -> None:
    """[TOOL-038] With one concurrent request allowed, a call that timed out while its tool still runs holds the
    slot until the tool really ends: the next call is refused meanwhile, and admitted after."""
    release = threading.Event()

    def tool(n: int, **_: Any) -> Any:
        if n == 1:
            release.wait(10)
        return {"v": n}

    limits = {"policies": [{"name": "inflight", "q": 1, "w": 1, "qu": "concurrent-requests"}]}
    guard = Guard(contract(timeoutS=0.05, rateLimit=limits), tool)
    with pytest.raises(ToolTimeoutError):
        guard.call({"n": 1}, principal="u")
    with pytest.raises(RateLimitedError):
        guard.call({"n": 2}, principal="u")
    release.set()
    for _ in range(1000):
        try:
            assert guard.call({"n": 3}, principal="u") == {"v": 3}
            break
        except RateLimitedError:
            time.sleep(0.01)
    else:
        pytest.fail("the slot was never given back")
    guard.close()


def test_a_job_after_close_never_waits_behind_a_hung_one() -> None:
    """After close(), new jobs get new workers on a queue of their own, even while an old worker hangs."""
    from aifabric.tools import _workers

    release = threading.Event()
    workers = _workers.Workers(1, "test")
    hung = workers.submit(lambda: release.wait(10), {})
    queued = workers.submit(lambda: "queued before close", {})
    workers.close()
    fresh = workers.submit(lambda: "after close", {})
    assert fresh.done.acquire(timeout=5) and fresh.outcome() == "after close"
    release.set()
    assert hung.done.acquire(timeout=5) and queued.done.acquire(timeout=5)
    assert queued.outcome() == "queued before close"
    workers.close()
