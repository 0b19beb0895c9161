"""Shared fixtures: the third-party data folder, the packaged schemas, and a registry with OpenLineage."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, settings

from aifabric.schemas import Registry

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

settings.register_profile("default", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@cache
def _report() -> dict[str, Any]:
    from aifabric.conformance import run_vectors

    doc: dict[str, Any] = run_vectors([]).to_json()
    return doc


def report() -> dict[str, Any]:
    """A fresh copy of a valid conformance-report document (schemaURL, producer and all)."""
    return copy.deepcopy(_report())


def shared(*parts: str) -> Path:
    """A path under ../shared/data, or a skip when the folder is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party fixture {path} is absent (expected ../shared/data beside the checkout)")
    return path


@pytest.fixture(scope="session")
def openlineage_schemas() -> list[dict[str, Any]]:
    folder = shared("openlineage")
    files = [folder / "OpenLineage.json", *sorted((folder / "facets").glob("*.json"))]
    return [json.loads(f.read_bytes()) for f in files]


@pytest.fixture(scope="session")
def openlineage_registry(openlineage_schemas: list[dict[str, Any]]) -> Registry:
    registry = Registry.default().copy()
    for schema in openlineage_schemas:
        registry.add(schema)
    return registry


@pytest.fixture(scope="session")
def bench_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(shared("bench", "openlineage-runevent-6k.json").read_bytes())
    return event


def inline_refs(url: str) -> dict[str, Any]:
    """A packaged schema with every cross-schema ``$ref`` copied into its own ``$defs``.

    hypothesis-jsonschema resolves only local references; the copies keep their meaning exactly.
    """
    registry = Registry.default()
    base = url.split("#", 1)[0]
    root: dict[str, Any] = json.loads(json.dumps(dict(registry.info(base).schema)))
    defs: dict[str, Any] = {}

    def rewrite(node: Any, owner: str) -> Any:
        if isinstance(node, list):
            return [rewrite(item, owner) for item in node]
        if not isinstance(node, dict):
            return node
        out = {key: rewrite(value, owner) for key, value in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str):
            target, _, pointer = ref.partition("#")
            target = target or owner
            if target != base:
                part = pointer.rsplit("/", 1)[-1]
                name = target.rsplit("/", 2)[-2] + "." + (part or "document")
                if name not in defs:
                    defs[name] = {}
                    other = registry.info(target).schema
                    whole = {k: v for k, v in other.items() if k not in ("$id", "$schema", "$defs")}
                    defs[name] = rewrite(other["$defs"][part] if part else whole, target)
                out["$ref"] = f"#/$defs/{name}"
        return out

    bundled: dict[str, Any] = rewrite(root, base)
    bundled["$defs"] = {**bundled.get("$defs", {}), **defs}
    bundled.pop("$id", None)
    if "#" in url:
        bundled = {"$defs": bundled["$defs"], "$ref": "#" + url.split("#", 1)[1]}
    return bundled


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """The ``pattern`` keyword with ECMA-262's ``$``, which (unlike Python's) never matches before a final newline."""
    if validator.is_type(instance, "string"):
        if pattern.endswith("$") and not pattern.endswith("\\$"):
            pattern = pattern[:-1] + r"\Z"
        if not re.search(pattern, instance):
            yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaReference = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _ecma_pattern})  # type: ignore[no-untyped-call]
"""The reference ``jsonschema`` validator, with JSON Schema's ECMA-262 reading of ``pattern``."""


# --- a throwaway PostgreSQL, for the stores that use it --------------------------------------------------


def _pg_binaries() -> Path | None:
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[4].isdigit()]
    if found:
        return max(found, key=lambda p: int(p.parts[4])).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port: its superuser DSN (without a database)."""
    binaries = _pg_binaries()
    if binaries is None:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql): no initdb under /usr/lib/postgresql")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'aifabric[postgres]')")
    as_root = os.geteuid() == 0
    if as_root and (shutil.which("runuser") is None or not _has_user("postgres")):
        pytest.skip(
            "running as root, and PostgreSQL refuses root: needs runuser and the postgres user the package makes"
        )
    folder = Path(tempfile.mkdtemp(prefix="aifabric-pg-"))  # not tmp_path: the postgres user must reach it as root
    data = folder / "data"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(binaries / args[0]), *args[1:]]
        if as_root:  # PostgreSQL refuses to run as root: run it as the postgres user the package made
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    if as_root:
        shutil.chown(folder, "postgres")
    port = free_port()
    try:
        run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--no-locale")
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {folder} -c fsync=off -c full_page_writes=off"
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "-t", "60", "start")
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        output = getattr(exc, "stderr", "") or str(exc)
        pytest.fail(f"cannot start PostgreSQL: {output}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_dsn(postgres_server: str) -> str:
    """A fresh database in the session's cluster."""
    import psycopg

    name = "t" + uuid.uuid4().hex
    with psycopg.connect(postgres_server + "/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


# --- models against their schemas -----------------------------------------------------------------------------


def schema_problems(doc: Any, url: str) -> list[str] | None:
    """The rules a document breaks in the schema at ``url``, or None when it is valid."""
    from aifabric import ValidationError, validate

    try:
        validate(doc, schema_url=url)
    except ValidationError as error:
        return [problem.rule for problem in error.problems]
    except TypeError:
        return ["type"]
    return None


def assert_model_agrees(value: Any, url: str, model: type[Any], defaulted: set[str]) -> None:
    """Whatever the schema accepts the model parses and writes back; whatever the model accepts, the schema does.

    The models leave the uri and email formats to the schema, and fill in the ``defaulted`` members.
    """
    import pydantic
    from hypothesis import assume

    from aifabric import validate

    problems = schema_problems(value, url)
    try:
        parsed = model.model_validate(value)
    except pydantic.ValidationError:
        assert problems is not None, value
        return
    if problems is not None:
        assert set(problems) <= {"format", "required"}, (problems, value)
        assert "required" not in problems or defaulted - set(value), (problems, value)
        assume(False)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True) == value
    validate(parsed.model_dump(mode="json", by_alias=True, exclude_none=True), schema_url=url)  # defaults filled


def assert_vector_agrees(
    case: dict[str, Any], model: type[Any], defaulted: set[str] | frozenset[str] = frozenset()
) -> None:
    """A vector case's document is accepted by the model exactly when it is valid, and written back as given.

    A case may be invalid only for a member the model fills in by default (one of ``defaulted``).
    """
    import pydantic

    try:
        parsed = model.model_validate(case["data"])
    except pydantic.ValidationError:
        assert not case["valid"], case["description"]
        return
    assert case["valid"] or defaulted - set(case["data"]), case["description"]
    out = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    assert out == case["data"], case["description"]
