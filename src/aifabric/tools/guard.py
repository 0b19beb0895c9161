"""A guard that holds every call of a tool to the tool's contract (spec/tools.md, TOOL-030 to TOOL-042).

A :class:`Guard` checks the caller (authentication, scopes, consent, a pluggable :class:`Policy`), validates the
arguments against ``inputSchema`` (compiled once), applies the rate limits, idempotency keys, the circuit breaker,
the timeout and the retry policy, validates the result against ``outputSchema``, and emits one audit record
(OCSF API Activity, action ``tool.call``) and one AI-call lineage entry for every call, whatever its end. A call
that fails raises a :class:`ToolCallError` whose ``error_class`` is one of the spec's error classes or one the
contract declares.

The breaker opens after :data:`BREAKER_THRESHOLD` consecutive failed attempts (``TIMEOUT``, ``UNAVAILABLE`` or
``TOOL_ERROR``) and half-opens, letting one trial attempt through, :data:`BREAKER_COOLDOWN_S` seconds later.
A sync function runs in one of the guard's long-lived worker threads, so that the caller stops waiting at the
timeout; a thread that overruns is left to finish in the background, its result dropped. With ``inline=True`` a
sync function runs on the caller's thread instead, which saves the hand-off but cannot stop it: an attempt that
ends past the timeout is reported ``TIMEOUT`` and its result dropped (TOOL-042). Rate limits hold each partition
of the calls apart, by default each principal, anonymous callers sharing one (TOOL-040); ``partition`` maps a
principal to another key, such as its tenant, or to one key for a limit shared by all.

Examples:
    >>> from aifabric.models.tools import ToolContract
    >>> from aifabric.tools.guard import Guard, ToolCallError
    >>> contract = ToolContract(
    ...     name="add", description="Adds two integers.", version="1.0.0",
    ...     owner={"type": "service", "id": "calc"}, sideEffect="none", timeoutS=5,
    ...     inputSchema={"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    ...                  "required": ["a", "b"]},
    ...     outputSchema={"type": "object", "properties": {"sum": {"type": "integer"}}, "required": ["sum"]},
    ... )
    >>> records = []
    >>> class Sink:
    ...     append = records.append
    >>> guard = Guard(contract, lambda a, b: {"sum": a + b}, audit=Sink())
    >>> guard.call({"a": 1, "b": 2}, principal="alice", scopes=[], purposes=[])
    {'sum': 3}
    >>> try:
    ...     guard.call({"a": "1"}, principal="alice", scopes=[], purposes=[])
    ... except ToolCallError as exc:
    ...     print(exc.error_class)
    INVALID_INPUT
    >>> [r["outcome"] for r in records]
    ['success', 'failure']
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import json
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import jsonschema_rs
import orjson

from aifabric._errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    RateLimitedError,
    SchemaError,
    ToolCallError,
    ToolFailedError,
    ToolTimeoutError,
    UnauthorizedError,
    UnavailableError,
)
from aifabric._ids import utc_now, uuid7
from aifabric.models.audit import AuditActor
from aifabric.models.tools import ERROR_CODES, ToolContract
from aifabric.tools._idempotency import (
    Begin,
    IdempotencyStore,
    MemoryIdempotencyStore,
    SQLiteIdempotencyStore,
)
from aifabric.tools._limits import Breaker, Bucket, Quotas
from aifabric.tools._workers import Job, Workers
from aifabric.validation import _problems_from

__all__ = [
    "BREAKER_COOLDOWN_S",
    "BREAKER_THRESHOLD",
    "AllowRules",
    "ConflictError",
    "Decision",
    "ForbiddenError",
    "Guard",
    "IdempotencyStore",
    "InvalidInputError",
    "MemoryIdempotencyStore",
    "Policy",
    "RateLimitedError",
    "Rule",
    "SQLiteIdempotencyStore",
    "Sink",
    "ToolCallError",
    "ToolFailedError",
    "ToolTimeoutError",
    "UnauthorizedError",
    "UnavailableError",
    "by_principal",
]

BREAKER_THRESHOLD: Final = 5
"""Consecutive failed attempts that open a guard's circuit breaker, unless ``breaker_threshold`` says otherwise."""
BREAKER_COOLDOWN_S: Final = 30.0
"""Seconds an open breaker waits before it half-opens, unless ``breaker_cooldown_s`` says otherwise."""

_POLICY_ID: Final = "aifabric.tools.guard"
_ACTIVITY: Final = {"none": 2, "idempotent": 3, "additive": 1, "destructive": 4}  # OCSF Read/Update/Create/Delete
_SEVERITY: Final = {"success": 1, "failure": 2, "denied": 3}
_BREAKING: Final = frozenset({"TIMEOUT", "UNAVAILABLE", "TOOL_ERROR"})
_GUARD_CLASSES: Final = frozenset(ERROR_CODES)


# --- policy ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer: whether the call may go ahead, and why."""

    allow: bool
    reasons: tuple[str, ...] = ()


class Policy(Protocol):
    """A policy hook, asked after the guard's own scope and consent checks pass."""

    def decide(
        self, contract: ToolContract, principal: AuditActor | None, scopes: frozenset[str], purposes: frozenset[str]
    ) -> Decision:
        """Allow or refuse a call of ``contract`` by ``principal`` holding ``scopes`` and ``purposes``."""
        ...


class Sink(Protocol):
    """Where audit records or lineage entries go: an :class:`aifabric.audit.AuditLog`, a list's owner..."""

    def append(self, record: Any, /) -> Any:
        """Take one record."""
        ...


@dataclass(frozen=True, slots=True)
class Rule:
    """An allow rule: ``principal`` (an id or ``*``) may call ``tool`` (a name or ``*``).

    The rule covers a contract whose ``auth.scopes`` are within ``scopes`` and whose consent purposes are within
    ``purposes`` (``None``: any).
    """

    principal: str = "*"
    tool: str = "*"
    scopes: frozenset[str] | None = None
    purposes: frozenset[str] | None = None


@functools.lru_cache(maxsize=1024)
def _allowed_by(rule: Rule) -> Decision:
    return Decision(True, (f"allowed by rule {rule!r}",))


@dataclass(frozen=True, slots=True)
class AllowRules:
    """A :class:`Policy` that allows a call when one rule matches its principal, tool, scopes and purposes."""

    rules: tuple[Rule, ...] = field(default_factory=tuple)
    policy_id: str = "aifabric.tools.allow-rules"

    def decide(
        self, contract: ToolContract, principal: AuditActor | None, scopes: frozenset[str], purposes: frozenset[str]
    ) -> Decision:
        """Allow when a rule matches; refuse with a reason otherwise."""
        who = principal.id if principal is not None else ""
        needed = frozenset(contract.auth.scopes or ()) if contract.auth else frozenset()
        wanted = frozenset(contract.consent.purposes) if contract.consent else frozenset()
        for rule in self.rules:
            if (
                rule.principal in ("*", who)
                and rule.tool in ("*", contract.name)
                and (rule.scopes is None or needed <= rule.scopes)
                and (rule.purposes is None or wanted <= rule.purposes)
            ):
                return _allowed_by(rule)
        return Decision(False, (f"no allow rule lets {who or 'an anonymous caller'} call {contract.name}",))


# --- the guard ---------------------------------------------------------------------------------------------

_HOLDS_ALL: Final = Decision(True, ("the caller holds every scope and consent the contract asks for",))


def _refuse(uri: str) -> Any:
    raise SchemaError(f"a tool schema refers to {uri}; the guard never fetches schemas")


def _compile(schema: Mapping[str, Any]) -> Any:
    try:
        if "$schema" in schema:
            return jsonschema_rs.validator_for(dict(schema), retriever=_refuse, validate_formats=True)
        return jsonschema_rs.Draft202012Validator(dict(schema), retriever=_refuse, validate_formats=True)
    except (ValueError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaError(f"a tool schema does not compile: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _user(principal: str) -> AuditActor:
    return AuditActor(type="user", id=principal)  # frozen, so one instance serves every call


def _actor(principal: AuditActor | Mapping[str, Any] | str | None) -> AuditActor | None:
    if principal is None or isinstance(principal, AuditActor):
        return principal
    if isinstance(principal, str):
        return _user(principal)
    return AuditActor.model_validate(principal)


def by_principal(principal: AuditActor | None) -> str:
    """The default rate-limit partition of a call: its principal's id, or ``""`` for anonymous callers."""
    return principal.id if principal is not None else ""


def _drive(fn: Callable[..., Coroutine[Any, Any, Any]], /, **arguments: Any) -> Any:
    return asyncio.run(fn(**arguments))


def _json_bytes(arguments: dict[str, Any]) -> bytes:
    """The arguments as JSON: orjson, or the standard library for what orjson refuses (an int beyond 64 bits)."""
    try:
        return orjson.dumps(arguments)
    except TypeError:
        return json.dumps(arguments, separators=(",", ":"), ensure_ascii=False).encode()


def _settle(future: asyncio.Future[Any], job: Job) -> None:
    if not future.done():  # not given up on by its caller
        if job.error is not None:
            future.set_exception(job.error)
        else:
            future.set_result(job.result)


class Guard:
    """Holds every call of one tool to its contract; see the module's docstring."""

    def __init__(
        self,
        contract: ToolContract,
        fn: Callable[..., Any],
        *,
        policy: Policy | None = None,
        idempotency: IdempotencyStore | None = None,
        audit: Sink | None = None,
        lineage: Sink | None = None,
        clock: Callable[[], float] = time.monotonic,
        source: Mapping[str, Any] | None = None,
        provider: str = "aifabric",
        breaker_threshold: int = BREAKER_THRESHOLD,
        breaker_cooldown_s: float = BREAKER_COOLDOWN_S,
        max_workers: int = 64,
        rng: random.Random | None = None,
        partition: Callable[[AuditActor | None], str] | None = None,
        inline: bool = False,
    ) -> None:
        self.contract = contract
        self.fn = fn
        self.policy = policy
        self.audit = audit
        self.lineage = lineage
        self.clock = clock
        self._async = inspect.iscoroutinefunction(fn)
        self._input = _compile(contract.input_schema)
        self._output = _compile(contract.output_schema) if contract.output_schema is not None else None
        self._scopes = frozenset(contract.auth.scopes or ()) if contract.auth else frozenset()
        self._auth_required = bool(contract.auth and contract.auth.required)
        self._purposes = frozenset(contract.consent.purposes) if contract.consent else frozenset()
        self._declared = {e.code: e.retryable for e in contract.errors or ()}
        idem = contract.idempotency
        self._key_mode = idem.key if idem else "none"
        self._lifetime = float(idem.key_lifetime_s or 0) if idem else 0.0
        self._store = idempotency if idempotency is not None else MemoryIdempotencyStore()
        self._quotas = Quotas(contract.rate_limit.policies) if contract.rate_limit else None
        self._partition = partition or by_principal
        self._inline = inline and not self._async
        self.breaker = Breaker(breaker_threshold, breaker_cooldown_s, clock)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrets
        self._workers = Workers(max_workers, f"guard-{contract.name}")
        self._target = {"type": "tool", "name": contract.name, "version": contract.version}
        self._source = dict(source) if source is not None else {"hostname": "localhost"}
        self._provider = provider
        self._activity = _ACTIVITY[contract.side_effect]
        self._classification = contract.data_classification.inputs.to_json() if contract.data_classification else None

    # -- checks before the tool runs

    def _admit(
        self,
        arguments: Any,
        actor: AuditActor | None,
        scopes: frozenset[str],
        purposes: frozenset[str],
        key: str | None,
    ) -> Decision:
        """Raise the refusal the guard's own checks and the policy find; the decision that allowed otherwise."""
        if self._auth_required and actor is None:
            raise UnauthorizedError(f"{self.contract.name} needs an authenticated caller")
        missing = self._scopes - scopes
        if missing:
            raise ForbiddenError(f"the caller lacks the scopes {', '.join(sorted(missing))}")
        unconsented = self._purposes - purposes
        if unconsented:
            raise ForbiddenError(f"the principal has not consented to {', '.join(sorted(unconsented))}")
        decision = _HOLDS_ALL
        if self.policy is not None:
            decision = self.policy.decide(self.contract, actor, scopes, purposes)
            if not decision.allow:
                reasons = list(decision.reasons) or ["the policy refused the call"]
                raise ForbiddenError("; ".join(reasons), reasons=reasons)
        if not isinstance(arguments, dict):
            raise InvalidInputError(f"the arguments are a JSON object, not a {type(arguments).__name__}")
        try:
            valid = self._input.is_valid(arguments)
            if not valid:
                found = _problems_from(self._input, arguments, None)
        except (ValueError, TypeError, OverflowError, RecursionError, UnicodeEncodeError) as exc:
            raise InvalidInputError(f"the arguments are not JSON: {exc}") from None
        if not valid:
            raise InvalidInputError(f"invalid arguments: {found[0]}", problems=found)
        if key is None and self._key_mode == "required":
            raise InvalidInputError(f"{self.contract.name} needs an idempotency key")
        return decision

    def _spend(self, arguments: dict[str, Any], actor: AuditActor | None) -> list[tuple[Bucket, float]]:
        """Spend the call's cost from the quotas of its partition [TOOL-038] [TOOL-040] [TOOL-041]."""
        if self._quotas is None:
            return []
        partition = self._partition(actor)
        size = len(_json_bytes(arguments)) if self._quotas.counts_bytes else 0
        taken, refused, wait = self._quotas.take(partition, size, self.clock())
        if refused:
            raise RateLimitedError(
                f"the rate-limit policy {refused} is spent for {partition or 'anonymous callers'}",
                retry_after=None if wait == float("inf") else wait,
            )
        return taken

    def _give_back(self, taken: list[tuple[Bucket, float]]) -> None:
        if self._quotas is not None:
            self._quotas.release(taken)

    def _fingerprint(self, arguments: dict[str, Any]) -> str:
        try:
            data = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # valid against the schema yet not what orjson writes (an int beyond 64 bits)
            data = repr(sorted(arguments.items())).encode()
        return hashlib.sha256(data).hexdigest()

    # -- after an attempt

    def _classify(self, exc: BaseException) -> ToolCallError:
        """Map what an attempt raised onto a declared error class, ``TOOL_ERROR`` otherwise [TOOL-039]."""
        if isinstance(exc, ToolCallError):
            if exc.error_class in self._declared or (
                type(exc) is not ToolCallError
                and exc.error_class in _GUARD_CLASSES
                and exc.error_class != "UNAVAILABLE"
            ):
                return exc
            if exc.error_class == "UNAVAILABLE" and "UNAVAILABLE" in self._declared:
                return exc
        retry_after = getattr(exc, "retry_after", None)
        failed = ToolFailedError(
            f"{self.contract.name} failed: {type(exc).__name__}: {exc}",
            retry_after=retry_after if isinstance(retry_after, int | float) else None,
        )
        failed.__cause__ = exc
        return failed

    def _check_output(self, result: Any) -> Any:
        if self._output is None:
            return result
        try:
            valid = isinstance(result, dict) and self._output.is_valid(result)
        except (ValueError, TypeError, OverflowError, RecursionError, UnicodeEncodeError):
            valid = False
        if not valid:
            raise ToolFailedError(f"{self.contract.name} returned a result not valid against its outputSchema")
        return result

    def _may_retry(self, error: ToolCallError, attempt: int, key: str | None) -> bool:
        retry = self.contract.retry
        if retry is None or attempt >= retry.max_attempts:
            return False
        if self.contract.side_effect in ("additive", "destructive") and key is None:
            return False
        return error.error_class in retry.on and self._declared.get(error.error_class, False)

    def _delay(self, error: ToolCallError, attempt: int) -> float:
        """The wait before attempt ``attempt + 1`` [TOOL-036]."""
        retry = self.contract.retry
        assert retry is not None
        backoff = retry.backoff
        base = min(backoff.max_s, backoff.initial_s * backoff.multiplier ** (attempt - 1))
        if backoff.jitter == "full":
            base = self._rng.uniform(0, base)
        elif backoff.jitter == "equal":
            base = base / 2 + self._rng.uniform(0, base / 2)
        if retry.honour_retry_after and error.retry_after is not None:
            return float(error.retry_after)
        return float(base)

    # -- records

    def _emit(
        self,
        actor: AuditActor | None,
        started: str,
        elapsed_s: float,
        decision: Decision | None,
        error: ToolCallError | None,
        attempts: int,
    ) -> None:
        outcome = (
            "success"
            if error is None
            else "denied"
            if isinstance(error, UnauthorizedError | ForbiddenError)
            else "failure"
        )
        if self.audit is not None:
            record: dict[str, Any] = {
                "schemaURL": "https://aifabric.dev/schemas/audit-record/1.0.0.json",
                "producer": self.contract.producer,
                "recordId": uuid7(),
                "time": utc_now(),
                "classUid": 6003,
                "activityId": self._activity,
                "severityId": _SEVERITY[outcome],
                "action": "tool.call",
                "actor": actor.to_json() if actor is not None else {"type": "user", "id": "anonymous"},
                "target": self._target,
                "outcome": outcome,
                "source": self._source,
                "durationMs": round(elapsed_s * 1000, 3),
                "attributes": {"attempts": attempts, **({"errorClass": error.error_class} if error else {})},
            }
            if error is not None:
                record["outcomeReason"] = f"{error.error_class}: {error}"[:4096]
            if outcome == "denied":
                assert error is not None
                reasons = getattr(error, "reasons", None) or [str(error)]
                record["policy"] = {
                    "policyId": self._policy_id(),
                    "effect": "deny",
                    "reasons": [r[:4096] for r in reasons],
                }
            elif decision is not None:
                record["policy"] = {"policyId": self._policy_id(), "effect": "allow"}
                if decision.reasons:
                    record["policy"]["reasons"] = [r[:4096] for r in decision.reasons]
            if self._purposes:
                record["consent"] = {"purposes": sorted(self._purposes), "legalBasis": "consent"}
            if self._classification is not None:
                record["classification"] = self._classification
            self.audit.append(record)
        if self.lineage is not None:
            entry: dict[str, Any] = {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.provider.name": self._provider,
                "gen_ai.tool.name": self.contract.name,
                "gen_ai.tool.type": "function",
                "startTime": started,
                "latencyMs": round(elapsed_s * 1000, 3),
                "outcome": "success" if error is None else "error",
            }
            if actor is not None:
                entry["gen_ai.agent.id"] = actor.id[:1024]
            if error is not None:
                entry["error.type"] = error.error_class
            self.lineage.append(entry)

    def _policy_id(self) -> str:
        return str(getattr(self.policy, "policy_id", _POLICY_ID)) if self.policy is not None else _POLICY_ID

    # -- running

    def _timeout(self) -> ToolTimeoutError:
        return ToolTimeoutError(f"{self.contract.name} did not end within {self.contract.timeout_s} s")

    def _run_sync(self, arguments: dict[str, Any], deadline: float, taken: list[tuple[Bucket, float]]) -> Any:
        if self._inline:  # on the caller's thread: an overrun is found, not stopped [TOOL-042]
            if self.clock() >= deadline:
                raise self._timeout()
            try:
                result = self.fn(**arguments)
            except Exception:
                if self.clock() > deadline:
                    raise self._timeout() from None
                raise
            if self.clock() > deadline:
                raise self._timeout()
            return result
        job = self._workers.submit(functools.partial(_drive, self.fn) if self._async else self.fn, arguments)
        if job.done.acquire(timeout=max(deadline - self.clock(), 0.0)):
            return job.outcome()
        self._hold(job, taken)
        raise self._timeout()

    def _hold(self, job: Job, taken: list[tuple[Bucket, float]]) -> None:
        """A caller stops waiting for ``job``: a queued one never runs, a running one keeps its quotas.

        A job still running holds its place in the ``concurrent-requests`` quotas until it really ends, though its
        caller has gone, so that timed-out calls cannot pile up on the tool [TOOL-038].
        """
        if job.withdraw():
            return
        held = [entry for entry in taken if entry[0].concurrent]
        taken[:] = [entry for entry in taken if not entry[0].concurrent]
        if held:
            job.after(lambda: self._give_back(held))

    async def _run_async(self, arguments: dict[str, Any], remaining: float, taken: list[tuple[Bucket, float]]) -> Any:
        job: Job | None = None
        if self._async:
            awaitable: Awaitable[Any] = self.fn(**arguments)
        else:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            job = self._workers.submit(
                self.fn, arguments, lambda ended: loop.call_soon_threadsafe(_settle, future, ended)
            )
            awaitable = future
        deadline = asyncio.timeout(max(remaining, 0.0))  # no task of its own, unlike wait_for
        try:
            async with deadline:
                return await awaitable
        except TimeoutError:
            if deadline.expired():
                raise self._timeout() from None
            raise  # the tool's own TimeoutError: a TOOL_ERROR
        finally:
            if job is not None:
                self._hold(job, taken)

    def _before_attempt(self, arguments: dict[str, Any], scope: str, key: str | None, fp: str) -> tuple[bool, Any]:
        """(True, result) for a replayed key; (False, None) when the attempt should run."""
        if key is not None:
            found, result = self._store.begin(scope, key, fp, self._lifetime)
            if found is Begin.REPLAY:
                return True, result
            if found is Begin.IN_FLIGHT:
                raise ConflictError("a call with the same idempotency key is in flight")
            if found is Begin.MISMATCH:
                raise InvalidInputError("the idempotency key was used with other arguments", status=422)
        wait = self.breaker.admit()
        if wait:
            if key is not None:
                self._store.release(scope, key)
            raise UnavailableError(f"the circuit breaker of {self.contract.name} is open", retry_after=wait)
        return False, None

    def _abandon(self, scope: str, key: str | None) -> None:
        """An attempt neither failed nor succeeded (cancelled, interrupted): free its key and the breaker's trial."""
        self.breaker.abandon()
        if key is not None:
            self._store.release(scope, key)

    def _after_attempt(self, scope: str, key: str | None, result: Any, error: BaseException | None) -> Any:
        if error is None:
            try:
                result = self._check_output(result)
            except ToolFailedError as exc:
                error = exc
        if error is not None:
            classified = self._classify(error)
            if classified.error_class in _BREAKING:
                self.breaker.failure()
            else:
                self.breaker.success()
            if key is not None:
                self._store.release(scope, key)
            raise classified
        self.breaker.success()
        if key is not None:
            self._store.complete(scope, key, result, self._lifetime)
        return result

    def _prologue(
        self,
        arguments: Any,
        principal: AuditActor | Mapping[str, Any] | str | None,
        scopes: Iterable[str],
        purposes: Iterable[str],
        idempotency_key: str | None,
    ) -> tuple[AuditActor | None, Decision, list[tuple[Bucket, float]], str]:
        actor = _actor(principal)
        decision = self._admit(arguments, actor, frozenset(scopes), frozenset(purposes), idempotency_key)
        scope = f"{self.contract.name}\x00{actor.id if actor else ''}"
        return actor, decision, self._spend(arguments, actor), scope

    def call(
        self,
        arguments: dict[str, Any],
        *,
        principal: AuditActor | Mapping[str, Any] | str | None,
        scopes: Iterable[str] = (),
        purposes: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> Any:
        """Call the tool with ``arguments`` on behalf of ``principal``, who holds ``scopes`` and ``purposes``.

        Raises:
            ToolCallError: the call failed; ``error_class`` says how (a subclass for each spec class).
        """
        start, started = self.clock(), utc_now()
        actor: AuditActor | None = None
        decision: Decision | None = None
        attempts, taken = 0, list[tuple[Bucket, float]]()
        try:
            actor, decision, taken, scope = self._prologue(arguments, principal, scopes, purposes, idempotency_key)
            deadline = start + self.contract.timeout_s
            fp = self._fingerprint(arguments) if idempotency_key is not None else ""
            while True:
                attempts += 1
                try:
                    replay, result = self._before_attempt(arguments, scope, idempotency_key, fp)
                    if not replay:
                        try:
                            result = self._run_sync(arguments, deadline, taken)
                        except Exception as exc:  # noqa: BLE001 - every failure maps to an error class
                            self._after_attempt(scope, idempotency_key, None, exc)
                        except BaseException:
                            self._abandon(scope, idempotency_key)
                            raise
                        result = self._after_attempt(scope, idempotency_key, result, None)
                    break
                except ToolCallError as error:
                    wait = self._retry_wait(error, attempts, idempotency_key, deadline)
                    if wait is None:
                        raise
                    time.sleep(wait)
        except ToolCallError as error:
            self._emit(actor, started, self.clock() - start, decision, error, attempts)
            raise
        finally:
            self._give_back(taken)
        self._emit(actor, started, self.clock() - start, decision, None, attempts)
        return result

    async def acall(
        self,
        arguments: dict[str, Any],
        *,
        principal: AuditActor | Mapping[str, Any] | str | None,
        scopes: Iterable[str] = (),
        purposes: Iterable[str] = (),
        idempotency_key: str | None = None,
    ) -> Any:
        """:meth:`call` for asyncio: an async tool is awaited, a sync one runs in a worker thread."""
        start, started = self.clock(), utc_now()
        actor: AuditActor | None = None
        decision: Decision | None = None
        attempts, taken = 0, list[tuple[Bucket, float]]()
        try:
            actor, decision, taken, scope = self._prologue(arguments, principal, scopes, purposes, idempotency_key)
            deadline = start + self.contract.timeout_s
            fp = self._fingerprint(arguments) if idempotency_key is not None else ""
            while True:
                attempts += 1
                try:
                    replay, result = self._before_attempt(arguments, scope, idempotency_key, fp)
                    if not replay:
                        try:
                            result = await self._run_async(arguments, deadline - self.clock(), taken)
                        except Exception as exc:  # noqa: BLE001 - every failure maps to an error class
                            self._after_attempt(scope, idempotency_key, None, exc)
                        except BaseException:  # cancelled, or interrupted
                            self._abandon(scope, idempotency_key)
                            raise
                        result = self._after_attempt(scope, idempotency_key, result, None)
                    break
                except ToolCallError as error:
                    wait = self._retry_wait(error, attempts, idempotency_key, deadline)
                    if wait is None:
                        raise
                    await asyncio.sleep(wait)
        except ToolCallError as error:
            self._emit(actor, started, self.clock() - start, decision, error, attempts)
            raise
        finally:
            self._give_back(taken)
        self._emit(actor, started, self.clock() - start, decision, None, attempts)
        return result

    def _retry_wait(self, error: ToolCallError, attempts: int, key: str | None, deadline: float) -> float | None:
        """The wait before the next attempt, or None where the call ends with ``error`` [TOOL-034] [TOOL-036]."""
        if not self._may_retry(error, attempts, key):
            return None
        wait = self._delay(error, attempts)
        if self.clock() + wait >= deadline:
            return None
        return wait

    def close(self) -> None:
        """Let the worker threads end (those running go on to their end); a later call starts new ones."""
        self._workers.close()
