"""The pytest plugin, loaded through its ``pytest11`` entry point: ``pytest --aifabric-target ...`` in CI."""

from __future__ import annotations

import re
import sys

import pytest

from aifabric.conformance.pytest_plugin import select_cases

pytest_plugins = ["pytester"]

PLUGIN = ("-p", "no:cacheprovider")  # the plugin itself loads through its pytest11 entry point

ACCEPT_ALL = """
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    if req["cmd"] == "start":
        ans = {"seq": req["seq"], "ready": True, "version": 1, "implementation": {"name": "accept-all"}}
    elif req["cmd"] == "stop":
        print(json.dumps({"seq": req["seq"], "stopped": True}), flush=True)
        break
    else:
        ans = {"seq": req["seq"], "result": {"valid": True}}
    print(json.dumps(ans), flush=True)
"""


def _failed(result: pytest.RunResult) -> set[str]:
    return {m[1] for line in result.outlines if (m := re.match(r"FAILED (aifabric::\S+)", line))}


def test_the_reference_passes_every_case_of_a_profile(pytester: pytest.Pytester) -> None:
    """CONF-030: one item per vector case, named by its case ID; the reference passes them all."""
    cases = select_cases(["canonicalizer"])
    result = pytester.runpytest_subprocess(
        *PLUGIN, "--aifabric-target", "reference", "--aifabric-profile", "canonicalizer", "-v"
    )
    result.assert_outcomes(passed=len(cases))
    result.stdout.fnmatch_lines(["*aifabric conformance: target reference, profiles canonicalizer*"])
    result.stdout.fnmatch_lines(["aifabric::canonical/keys.json#0 PASSED*"])


def test_an_accept_all_adapter_fails_exactly_the_invalid_cases(pytester: pytest.Pytester) -> None:
    """CONF-030: each case the adapter gets wrong fails by name, showing the vector, the expected and the actual."""
    pytester.makepyfile(accept_all=ACCEPT_ALL)
    target = f"{sys.executable} accept_all.py"
    result = pytester.runpytest_subprocess(*PLUGIN, "--aifabric-target", target, "--aifabric-profile", "model-card")
    cases = select_cases(["model-card"])
    invalid = {f"aifabric::{c.id}" for c in cases if not c.vector["cases"][c.index]["valid"]}
    assert invalid and len(invalid) < len(cases)
    result.assert_outcomes(passed=len(cases) - len(invalid), failed=len(invalid))
    assert _failed(result) == invalid
    result.stdout.fnmatch_lines(["*requirements: CARD-*", "*vector: *card.json (operation validate)*"])
    result.stdout.fnmatch_lines(["*expected:     reject*", "*actual:       accept*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_requirement_ids_select_cases(pytester: pytest.Pytester) -> None:
    """Items carry their requirement IDs as keywords, so ``-k`` picks the cases behind one requirement."""
    pytester.makepyfile(accept_all=ACCEPT_ALL)
    target = f"{sys.executable} accept_all.py"
    result = pytester.runpytest_subprocess(
        *PLUGIN, "--aifabric-target", target, "--aifabric-profile", "model-card", "-k", "CARD-002"
    )
    chosen = [c for c in select_cases(["model-card"]) if "CARD-002" in c.requirements]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(chosen)


def test_an_adapter_that_cannot_start_fails_every_case(pytester: pytest.Pytester) -> None:
    """CONF-029: no adapter means an error result on each case, not a crash of the run."""
    result = pytester.runpytest_subprocess(
        *PLUGIN, "--aifabric-target", "/nonexistent/adapter", "--aifabric-profile", "canonicalizer"
    )
    result.assert_outcomes(failed=len(select_cases(["canonicalizer"])))
    result.stdout.fnmatch_lines(["*cannot start the adapter*"])


def test_service_profiles_run_as_one_item(pytester: pytest.Pytester) -> None:
    """CONF-040: the Lineage Consumer profile runs whole against the reference collector."""
    result = pytester.runpytest_subprocess(
        *PLUGIN, "--aifabric-target", "reference", "--aifabric-profile", "lineage-consumer", "-v"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["aifabric::lineage-consumer PASSED*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aifabric-target", "http://127.0.0.1:9"], "*a URL target needs --aifabric-profile*"),
        (["--aifabric-target", "reference", "--aifabric-profile", "nope"], "*unknown --aifabric-profile 'nope'*"),
        (["--aifabric-target", "cat", "--aifabric-profile", "serving-endpoint"], "*needs a URL target*"),
    ],
)
def test_usage_errors(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = pytester.runpytest_subprocess(*PLUGIN, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_without_a_target_the_plugin_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_one() -> None:\n    pass\n")
    pytester.runpytest_subprocess(*PLUGIN).assert_outcomes(passed=1)
