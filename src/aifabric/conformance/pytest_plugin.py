"""A pytest plugin that runs the conformance suite as tests: one test per vector case, in a vendor's own CI.

``pytest --aifabric-target TARGET`` collects one item per vector case of
the chosen profiles (``--aifabric-profile``, repeatable; by default every profile run with vectors), named by its
case ID and carrying its requirement IDs (``-k CORE-020`` selects by them), and runs each against the target
through the adapter protocol, with one adapter process for the session. TARGET is ``reference``, an adapter
command line, or, for the profiles that test a service, an ``http://`` URL (one item per such profile). A failure
shows the case, its data, the expected and the actual verdict. Without ``--aifabric-target`` the plugin does
nothing.

Examples:
    >>> cases = select_cases(["canonicalizer"])
    >>> cases[0].id, cases[0].operation, cases[0].requirements[:2]
    ('canonical/keys.json#0', 'canonicalize', ('CORE-060', 'CORE-063'))
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

from aifabric._errors import AifabricError
from aifabric.conformance._vectors import VectorFileError, default_vectors_dir, load_vector_file
from aifabric.conformance.adapters import Adapter, Answer, case_request
from aifabric.conformance.certify import Profile, certify, load_profiles, reference_command
from aifabric.models.conformance import Result

__all__ = [
    "Case",
    "CaseError",
    "CaseItem",
    "ProfileItem",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_report_header",
    "pytest_sessionfinish",
    "select_cases",
]

_STATE: Final = pytest.StashKey["_State"]()


@dataclass(frozen=True, slots=True)
class Case:
    """One vector case a profile runs: where it lies, what it asks and the requirements it covers."""

    id: str
    path: Path
    index: int
    operation: str
    requirements: tuple[str, ...]
    profiles: tuple[str, ...]
    description: str = ""
    vector: dict[str, Any] = field(default_factory=dict, repr=False)
    problem: str | None = None
    """Why the vector file cannot be run (it breaks the vector schema); the case then fails."""


def select_cases(profiles: Sequence[str], vectors_dir: Path | None = None) -> list[Case]:
    """The vector cases the given profiles run, in file order, each once.

    Raises:
        CertifyError: an unknown profile.
    """
    known = {p.id: p for p in load_profiles()}
    chosen = [_profile(known, p) for p in dict.fromkeys(profiles)]
    root = vectors_dir or default_vectors_dir()
    cases: list[Case] = []
    for path in sorted(root.rglob("*.json")):
        area, name = path.parent.name, path.relative_to(root).as_posix()
        try:
            raw = json.loads(path.read_bytes())
        except (OSError, ValueError):
            raw = None
        operation = str(raw.get("operation")) if isinstance(raw, dict) else ""
        mine = tuple(p.id for p in chosen if p.selects(area, operation))
        if not mine:
            continue
        try:
            vector = load_vector_file(path)
        except VectorFileError as exc:
            cases.append(Case(name, path, -1, operation, ("CORE-040",), mine, problem=exc.reason))
            continue
        for n, case in enumerate(vector.cases):
            requirements = tuple(sorted({*vector.spec, *(case.spec or [])}))
            cases.append(Case(f"{name}#{n}", path, n, operation, requirements, mine, case.description, raw))
    return cases


def _profile(known: dict[str, Profile], name: str) -> Profile:
    from aifabric.conformance.certify import CertifyError

    if name not in known:
        raise CertifyError(f"unknown profile {name!r} (one of: {', '.join(known)})")
    return known[name]


class CaseError(AssertionError):
    """A vector case the target got wrong, or could not answer."""

    def __init__(self, case: Case, result: Result) -> None:
        super().__init__(result.message or result.outcome)
        self.case = case
        self.result = result


@dataclass(slots=True)
class _State:
    """The session's target and its one adapter process, started on the first case."""

    argv: list[str]
    timeout: float
    adapter: Adapter | None = None
    broken: str | None = None

    def answer(self, case: Case) -> tuple[Answer, Adapter | None]:
        if self.adapter is None and self.broken is None:
            from aifabric.schemas import _schema_root

            adapter = Adapter(self.argv, timeout=self.timeout, env={"AIFABRIC_SCHEMAS_DIR": str(_schema_root())})
            try:
                adapter.start()
            except AifabricError as exc:
                self.broken = str(exc)
            else:
                self.adapter = adapter
        if self.adapter is None:
            return Answer("errored", message=self.broken), None
        request = case_request(case.vector, case.vector["cases"][case.index])
        return self.adapter.run(case.operation, request), self.adapter

    def close(self) -> None:
        if self.adapter is not None:
            self.adapter.close()
            self.adapter = None


class CaseItem(pytest.Item):
    """One vector case run against the target."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.extra_keyword_matches.update({*case.requirements, *case.profiles})
        self.user_properties.append(("requirements", " ".join(case.requirements)))

    def runtest(self) -> None:
        """Send the case to the adapter and judge its answer as ``aifabric certify`` does (CONF-030)."""
        from aifabric.conformance.certify import _result

        case = self.case
        if case.problem is not None:
            raise CaseError(case, Result(id=case.id, requirements=["CORE-040"], outcome="error", message=case.problem))
        state = self.config.stash[_STATE]
        data = case.vector["cases"][case.index]
        valid, expected = bool(data["valid"]), data.get("expected")
        evidence: dict[str, Any] = {"operation": case.operation, "expected": "accept" if valid else "reject"}
        started = time.perf_counter()
        answer, adapter = state.answer(case)
        if adapter is None:
            result = Result(id=case.id, requirements=list(case.requirements), outcome="error", message=answer.message)
        else:
            result = _result(
                case.id, case.description, list(case.requirements), answer, evidence, valid, expected, started, adapter
            )
        if result.outcome == "skipped":
            pytest.skip(f"skipped by the adapter: {result.message}")
        if result.outcome != "passed":
            raise CaseError(case, result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        """The case, its data, what was expected and what the target did."""
        if not isinstance(excinfo.value, CaseError):
            return str(super().repr_failure(excinfo))
        case, result = excinfo.value.case, excinfo.value.result
        evidence = result.evidence or {}
        lines = [
            f"{case.id}: {case.description}" if case.description else case.id,
            f"  requirements: {' '.join(case.requirements)}",
            f"  vector:       {case.path} (operation {case.operation})",
        ]
        if case.index >= 0:
            data = case.vector["cases"][case.index]
            lines.append(f"  data:         {_clip(json.dumps(data.get('data'), ensure_ascii=False))}")
            if "schema" in case.vector:
                lines.append(f"  schema:       {case.vector['schema']}")
        lines += [
            f"  expected:     {evidence.get('expected', '-')}",
            f"  actual:       {evidence.get('observed', result.outcome)}",
            f"  outcome:      {result.outcome}: {result.message}",
        ]
        for key in ("adapterMessage", "stderr"):
            if evidence.get(key):
                lines.append(f"  {key}: {_clip(str(evidence[key]))}")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the case lies, for pytest's report."""
        return self.case.path, None, f"aifabric {self.case.id}"


class ProfileItem(pytest.Item):
    """A profile that tests a service (a collector, a model endpoint), run whole against a URL or the reference."""

    def __init__(self, *, profile: str, target: str, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile, self.target, self.timeout = profile, target, timeout
        self.extra_keyword_matches.add(profile)

    def runtest(self) -> None:
        """Run the profile's HTTP checks and fail with every result that did not pass."""
        report = certify(self.target, [self.profile], timeout=self.timeout)
        verdict = (report.profiles or [])[0]
        if verdict.verdict != "passed":
            bad = [
                f"  {r.outcome} {r.id} {' '.join(r.requirements)}: {r.message}"
                for r in report.results
                if r.outcome in ("failed", "error")
            ]
            raise AssertionError(f"profile {self.profile} failed against {self.target}:\n" + "\n".join(bad))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """The profile and the target, for pytest's report."""
        return self.path, None, f"aifabric profile {self.profile} against {self.target}"


def _clip(text: str, size: int = 500) -> str:
    return text if len(text) <= size else text[:size] + f"... ({len(text)} characters)"


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line options."""
    group = parser.getgroup("aifabric", "aifabric conformance suite")
    group.addoption(
        "--aifabric-target",
        default=None,
        help="run the conformance suite against: reference, an adapter command line (quoted), or an http:// URL",
    )
    group.addoption(
        "--aifabric-profile",
        action="append",
        default=[],
        help="a profile id (repeatable; default: every profile run with vectors)",
    )
    group.addoption("--aifabric-vectors", default=None, help="vector folder (default: the shipped vectors)")
    group.addoption("--aifabric-timeout", type=float, default=30.0, help="seconds to wait for each adapter answer")


def _selection(config: pytest.Config) -> tuple[str, list[Profile]]:
    target: str = config.getoption("--aifabric-target")
    names: list[str] = config.getoption("--aifabric-profile")
    profiles = load_profiles()
    known = {p.id: p for p in profiles}
    is_url = target.startswith(("http://", "https://"))
    if not names:
        if is_url:
            raise pytest.UsageError("a URL target needs --aifabric-profile (lineage-consumer or serving-endpoint)")
        names = [p.id for p in profiles if p.target == "adapter"]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise pytest.UsageError(f"unknown --aifabric-profile {unknown[0]!r} (one of: {', '.join(known)})")
    chosen = [known[n] for n in dict.fromkeys(names)]
    for profile in chosen:
        if is_url and profile.target == "adapter":
            raise pytest.UsageError(f"profile {profile.id} needs an adapter command or 'reference', not a URL")
        if not is_url and target != "reference" and profile.target == "http":
            raise pytest.UsageError(f"profile {profile.id} needs a URL target (or 'reference')")
    return target, chosen


def pytest_configure(config: pytest.Config) -> None:
    """Check the options and prepare the session's target."""
    target = config.getoption("--aifabric-target")
    if not target:
        return
    _selection(config)
    if target == "reference":
        argv = reference_command()
    else:
        try:
            argv = shlex.split(target)
        except ValueError as exc:
            raise pytest.UsageError(f"cannot read --aifabric-target {target!r}: {exc}") from None
    config.stash[_STATE] = _State(argv, float(config.getoption("--aifabric-timeout")))


def pytest_report_header(config: pytest.Config) -> str | None:
    """Name the target and the profiles in pytest's header."""
    if _STATE not in config.stash:
        return None
    target, chosen = _selection(config)
    return f"aifabric conformance: target {target}, profiles {', '.join(p.id for p in chosen)}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add one item per vector case of the chosen profiles, and one per service profile, before ``-k`` selects."""
    if _STATE not in config.stash:
        return
    target, chosen = _selection(config)
    vectors = config.getoption("--aifabric-vectors")
    vectors_dir = Path(vectors) if vectors else None
    if vectors_dir is not None and not vectors_dir.is_dir():
        raise pytest.UsageError(f"--aifabric-vectors {vectors}: no such folder")
    items.extend(_items(session, target, chosen, vectors_dir, float(config.getoption("--aifabric-timeout"))))


def _items(
    session: pytest.Session, target: str, chosen: list[Profile], vectors_dir: Path | None, timeout: float
) -> Iterator[pytest.Item]:
    adapter_profiles = [p.id for p in chosen if p.target == "adapter"]
    if adapter_profiles:
        for case in select_cases(adapter_profiles, vectors_dir):
            yield CaseItem.from_parent(session, name=case.id, nodeid=f"aifabric::{case.id}", case=case)
    for profile in chosen:
        if profile.target == "http":
            yield ProfileItem.from_parent(
                session,
                name=profile.id,
                nodeid=f"aifabric::{profile.id}",
                profile=profile.id,
                target=target,
                timeout=timeout,
            )


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the adapter."""
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.close()
