"""The audit log over its three stores: appends, proofs, checkpoints, tamper detection, crashes, concurrency."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import json
import logging
import multiprocessing
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from aifabric import (
    AifabricError,
    DivergenceError,
    KeyMismatchError,
    ProofError,
    SignatureError,
    ValidationError,
    uuid7,
)
from aifabric._errors import StoreError
from aifabric.audit import Checkpoint, NoteSigner, merkle, open_log, verify, verify_proof
from aifabric.canonical import canonicalize

ORIGIN = "aifabric.test/audit"
SIGNER = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())


def record(n: int, *, user: str = "alice@example.com", outcome: str = "success", **extra: Any) -> dict[str, Any]:
    """A valid audit record: an agent calling a tool for a user."""
    doc: dict[str, Any] = {
        "schemaURL": "https://aifabric.dev/schemas/audit-record/1.0.0.json",
        "producer": "https://github.com/aifabric/aifabric/tree/v0.1.0",
        "recordId": uuid7(),
        "time": f"2026-11-23T08:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "classUid": 6003,
        "activityId": 2,
        "severityId": 1,
        "action": "tool.call",
        "actor": {"type": "agent", "id": "triage-agent", "onBehalfOf": {"type": "user", "id": user}},
        "target": {"type": "tool", "name": f"tool-{n % 3}"},
        "outcome": outcome,
        "source": {"ip": "192.0.2.10"},
        "attributes": {"n": n},
    }
    if outcome == "denied":
        doc["policy"] = {"policyId": "pii-export", "effect": "deny", "reasons": ["no consent"]}
    doc.update(extra)
    return doc


@pytest.fixture(params=["file", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a log lives, for each kind of store."""
    if request.param == "file":
        return str(tmp_path / "log")
    if request.param == "sqlite":
        return str(tmp_path / "audit.sqlite")
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


def test_appends_get_consecutive_indexes_and_survive_reopening(target: str) -> None:
    """[AUD-101] [AUD-103] Entries are the canonical bytes of the records, at consecutive indexes from 0."""
    records = [record(i) for i in range(25)]
    with open_log(target, origin=ORIGIN) as log:
        assert log.append(records[0]) == 0
        assert log.extend(records[1:20]) == 1
        assert [log.append(r) for r in records[20:]] == list(range(20, 25))
        assert log.size == 25
    with open_log(target, origin=ORIGIN, create=False) as log:
        assert [e.data for e in log] == [canonicalize(r) for r in records]
        assert log.read(3, 5)[1].record == records[4]
        assert log.root() == merkle.root_hash([merkle.leaf_hash(canonicalize(r)) for r in records])


def test_proofs_from_every_store_verify(target: str) -> None:
    """[AUD-104] [AUD-105] Inclusion and consistency proofs from the stored subtrees verify for every size."""
    with open_log(target, origin=ORIGIN, validate=False) as log:
        roots = [merkle.EMPTY_ROOT]
        for i in range(33):
            log.append({"i": i})
            roots.append(log.root())
        leaves = [merkle.leaf_hash(e.data) for e in log]
        for size in (1, 2, 7, 8, 9, 33):
            assert log.root(size) == merkle.root_hash(leaves[:size]) == roots[size]
            for index in range(size):
                merkle.verify_inclusion(leaves[index], index, size, log.inclusion_proof(index, size), roots[size])
            for old in range(size + 1):
                merkle.verify_consistency(old, size, roots[old], roots[size], log.consistency_proof(old, size))
        with pytest.raises(ProofError):
            log.inclusion_proof(0, 34)


def test_records_are_validated_unless_told_not_to(tmp_path: Path) -> None:
    """A record that breaks the audit-record schema is refused before it reaches the log."""
    with open_log(tmp_path / "log", origin=ORIGIN) as log:
        bad = record(1)
        del bad["actor"]
        with pytest.raises(ValidationError, match="actor"):
            log.append(bad)
        with pytest.raises(ValidationError):
            log.append(record(2, outcome="denied", policy={"policyId": "p", "effect": "allow"}))
        assert log.size == 0


def test_origin_is_recorded_and_checked(tmp_path: Path) -> None:
    open_log(tmp_path / "log", origin=ORIGIN).close()
    with pytest.raises(StoreError, match=r"not 'other\.example/log'"):
        open_log(tmp_path / "log", origin="other.example/log")
    with pytest.raises(StoreError, match=r"no such audit log|not an aifabric audit log"):
        open_log(tmp_path / "missing", create=False)


# --- checkpoints and third-party proofs --------------------------------------------------------------------


def test_signed_checkpoint_verifies_the_log_and_proofs_stand_alone(target: str) -> None:
    """[AUD-106] [AUD-107] [AUD-108] [AUD-115] A third party with a checkpoint and a proof checks one record."""
    with open_log(target, origin=ORIGIN) as log:
        log.extend([record(i) for i in range(10)])
        old = log.checkpoint(SIGNER)
        log.extend([record(i) for i in range(10, 30)])
        new = log.checkpoint(SIGNER)
        assert verify(log, new, [SIGNER.verifier]).size == 30
        proof = json.loads(json.dumps(log.prove(17, new)))
        consistency = json.loads(json.dumps(log.prove_consistency(old, new)))
    assert verify_proof(proof, [SIGNER.verifier]).size == 30
    assert verify_proof(consistency, [SIGNER.verifier]).size == 30
    stranger = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(KeyMismatchError):
        verify_proof(proof, [stranger.verifier])
    edited = {**proof, "record": {**proof["record"], "outcome": "failure"}}
    with pytest.raises(ProofError):
        verify_proof(edited, [SIGNER.verifier])
    with pytest.raises(ProofError):
        verify_proof({**proof, "leafIndex": 18}, [SIGNER.verifier])
    forged = proof["checkpoint"].replace("\n30\n", "\n31\n", 1)
    with pytest.raises(SignatureError):
        verify_proof({**proof, "checkpoint": forged, "treeSize": 31}, [SIGNER.verifier])
    with pytest.raises(ProofError):
        verify_proof({**proof, "leafIndex": 30}, [SIGNER.verifier])
    with pytest.raises(ProofError):
        verify_proof({**consistency, "oldSize": 11}, [SIGNER.verifier])


def test_checkpoint_refuses_a_tree_inconsistent_with_an_earlier_one(tmp_path: Path) -> None:
    """[AUD-114] A log whose past was rewritten cannot sign a checkpoint that contradicts an earlier one."""
    with open_log(tmp_path / "forged", origin=ORIGIN, validate=False) as forged:
        forged.extend([{"i": -i} for i in range(12)])
    with open_log(tmp_path / "log", origin=ORIGIN, validate=False) as log:
        log.extend([{"i": i} for i in range(8)])
        log.checkpoint(SIGNER)
        log.extend([{"i": i} for i in range(8, 12)])
        for name in ("entries.jsonl", "tree", "offsets"):
            shutil.copy(tmp_path / "forged" / name, tmp_path / "log" / name)
        with pytest.raises(DivergenceError, match="not consistent with its own checkpoint at size 8"):
            log.checkpoint(SIGNER)


# --- tampering ---------------------------------------------------------------------------------------------

Tamper = Callable[[list[bytes], random.Random], tuple[list[bytes], int]]


def _flip(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    i = rnd.randrange(len(lines))
    line = bytearray(lines[i])
    at = rnd.randrange(len(line))
    line[at] = (line[at] + rnd.randrange(1, 256)) % 256
    return [*lines[:i], bytes(line), *lines[i + 1 :]], i


def _drop(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    i = rnd.randrange(len(lines))
    return lines[:i] + lines[i + 1 :], i


def _duplicate(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    i = rnd.randrange(len(lines))
    return [*lines[: i + 1], lines[i], *lines[i + 1 :]], i + 1


def _insert(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    i = rnd.randrange(len(lines) + 1)
    return [*lines[:i], canonicalize({"forged": i}), *lines[i:]], i


def _swap(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    i, j = sorted(rnd.sample(range(len(lines)), 2))
    out = list(lines)
    out[i], out[j] = out[j], out[i]
    return out, i


def _truncate(lines: list[bytes], rnd: random.Random) -> tuple[list[bytes], int]:
    keep = rnd.randrange(len(lines))
    return lines[:keep], keep


TAMPERINGS: dict[str, Tamper] = {
    "flip": _flip,
    "drop": _drop,
    "duplicate": _duplicate,
    "insert": _insert,
    "swap": _swap,
    "truncate": _truncate,
}


def _build(path: Path, values: list[int]) -> tuple[Checkpoint, list[bytes]]:
    shutil.rmtree(path, ignore_errors=True)
    with open_log(path, origin=ORIGIN, validate=False) as log:
        log.extend([{"seq": n, "value": v} for n, v in enumerate(values)])
        head = Checkpoint(ORIGIN, log.size, log.root())
        return head, [e.data for e in log]


@settings(max_examples=120)
@given(
    values=st.lists(st.integers(0, 9), min_size=2, max_size=40),
    how=st.sampled_from(sorted(TAMPERINGS)),
    seed=st.integers(0, 2**32),
)
def test_any_single_tampering_is_found_at_its_index(
    tmp_path_factory: pytest.TempPathFactory, values: list[int], how: str, seed: int
) -> None:
    """[AUD-108] [AUD-109] Edit, deletion, insertion, duplication, reorder or truncation: the first index named."""
    path = tmp_path_factory.getbasetemp() / "tamper"
    head, lines = _build(path, values)
    with open_log(path, readonly=True) as log:
        assert verify(log, head) == head
    tampered, index = TAMPERINGS[how](lines, random.Random(seed))
    (path / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in tampered))
    with open_log(path, readonly=True) as log, pytest.raises(DivergenceError) as caught:
        verify(log, head)
    assert caught.value.index == index, caught.value


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_tampering_in_sql_stores_is_found_at_its_index(
    request: pytest.FixtureRequest, tmp_path: Path, kind: str
) -> None:
    """[AUD-109] The same in SQLite and PostgreSQL: an edited, a deleted and a swapped row."""
    target = str(tmp_path / "audit.sqlite") if kind == "sqlite" else request.getfixturevalue("postgres_dsn")
    with open_log(target, origin=ORIGIN, validate=False) as log:
        log.extend([{"seq": n} for n in range(20)])
        head = Checkpoint(ORIGIN, 20, log.root())
        store: Any = log.store
        for sql, params, index in (
            (f"UPDATE audit_entries SET data = {store._mark} WHERE idx = 7", (b'{"seq":70}',), 7),
            ("DELETE FROM audit_entries WHERE idx = 4", (), 4),
            ("UPDATE audit_entries SET idx = 100 - idx WHERE idx IN (2, 3)", (), 2),
        ):
            store._run(sql, params)
            store._commit()
            with pytest.raises(DivergenceError) as caught:
                verify(log, head)
            assert caught.value.index == index  # each edit lies before the one made earlier


def test_rewritten_hashes_cannot_hide_an_edit(tmp_path: Path) -> None:
    """[AUD-109] An attacker who rewrites entries and stored hashes alike still fails against the checkpoint."""
    head, lines = _build(tmp_path / "log", list(range(10)))
    with open_log(tmp_path / "forged", origin=ORIGIN, validate=False) as forged:
        forged.extend([json.loads(line) for line in lines[:5]] + [{"seq": 5, "value": 99}] + [{"x": 1}] * 4)
    for name in ("entries.jsonl", "tree", "offsets"):
        shutil.copy(tmp_path / "forged" / name, tmp_path / "log" / name)
    with open_log(tmp_path / "log", readonly=True) as log, pytest.raises(DivergenceError, match="stored hashes"):
        verify(log, head)


def test_a_broken_previous_hash_link_is_named(tmp_path: Path) -> None:
    """[AUD-110] With chain=True each record names the entry before it; a wrong link is reported."""
    with open_log(tmp_path / "log", origin=ORIGIN, chain=True) as log:
        log.extend([record(i) for i in range(3)])
        log.append(record(3))
        entries = list(log)
        assert "previousHash" not in entries[0].record
        for before, entry in itertools.pairwise(entries):
            assert entry.record["previousHash"] == "sha256:" + hashlib.sha256(before.data).hexdigest()
        head = verify(log, Checkpoint(ORIGIN, 4, log.root()))
    with open_log(tmp_path / "bad", origin=ORIGIN, validate=False) as bad:
        bad.extend([{"a": 1}, {"previousHash": "sha256:" + "0" * 64}])
        with pytest.raises(DivergenceError, match="previousHash") as caught:
            verify(bad, Checkpoint(ORIGIN, 2, bad.root()))
        assert caught.value.index == 1
    assert head.size == 4


# --- crashes -----------------------------------------------------------------------------------------------


def test_a_torn_tail_is_cut_on_open_never_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """[AUD-112] Half an entry, half an offset and stray hashes past the last commit are truncated on open."""
    path = tmp_path / "log"
    head, _ = _build(path, list(range(6)))
    with (path / "entries.jsonl").open("ab") as f:
        f.write(b'{"seq":6,"val')
    with (path / "offsets").open("ab") as f:
        f.write(b"\x00\x00\x01")
    with (path / "tree").open("ab") as f:
        f.write(b"\x07" * 40)
    with caplog.at_level(logging.WARNING, logger="aifabric.audit"), open_log(path, validate=False) as log:
        assert log.size == 6
        assert verify(log, head) == head
        log.append({"seq": 6})
        assert [e.record["seq"] for e in log] == list(range(7))
    assert "unfinished write" in caplog.text and "torn offset" in caplog.text
    with (path / "offsets").open("r+b") as f:
        f.truncate(8 * 3)  # committed data lost under the log: damaged, not silently repaired
    (path / "entries.jsonl").write_bytes(b"")
    with pytest.raises(StoreError, match="damaged"):
        open_log(path)


def _crash_writer(path: str, start: int, acks: int) -> None:  # pragma: no cover - runs in a forked child
    log = open_log(path, validate=False)
    seq = start
    while True:
        log.extend([{"seq": seq + i, "pad": "x" * 200} for i in range(100)])
        seq += 100
        os.write(acks, seq.to_bytes(8, "big"))


def test_kill_9_mid_batch_loses_nothing_acknowledged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """[AUD-111] [AUD-112] A writer killed 100 times mid-batch: the log reopens, verifies and holds exactly the
    acknowledged entries, plus at most the whole batch in flight, in order and without duplicates."""
    caplog.set_level(logging.WARNING, logger="aifabric.audit")
    path = str(tmp_path / "log")
    rnd = random.Random(5)
    open_log(path, origin=ORIGIN).close()
    checkpoints = 0
    for attempt in range(100):
        with open_log(path) as log:
            start = log.size
        read, write = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover - the child never returns
            os.close(read)
            try:
                _crash_writer(path, start, write)
            finally:
                os._exit(0)
        os.close(write)
        time.sleep(rnd.uniform(0.001, 0.02))
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        acknowledged = start
        while chunk := os.read(read, 8):
            acknowledged = int.from_bytes(chunk, "big")
        os.close(read)
        with open_log(path) as log:
            seqs = [e.record["seq"] for e in log.read(start)]
            assert seqs == list(range(start, log.size)), "a gap, a duplicate or a reorder"
            assert acknowledged <= log.size <= acknowledged + 100
            assert log.size % 100 == 0, "a batch is committed whole or not at all"
            note = log.checkpoint(SIGNER)  # refused unless consistent with every earlier checkpoint
            if attempt % 10 == 9:
                verify(log, note, [SIGNER.verifier])
            checkpoints += 1
    assert checkpoints == 100
    cuts = [r for r in caplog.records if "unfinished write" in r.getMessage()]
    assert cuts, "no kill landed mid-write: the test did not test what it says"


# --- concurrency -------------------------------------------------------------------------------------------


def test_threads_appending_at_once_are_group_committed(target: str) -> None:
    """[AUD-113] Eight threads appending one record at a time: every index handed out once, nothing lost."""
    with open_log(target, origin=ORIGIN, validate=False) as log:
        got: list[list[int]] = [[] for _ in range(8)]

        def work(n: int) -> None:
            got[n] = [log.append({"thread": n, "i": i}) for i in range(150)]

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(i for indexes in got for i in indexes) == list(range(1200))
        for n, indexes in enumerate(got):
            assert [log.read(i, i + 1)[0].record for i in indexes] == [{"thread": n, "i": i} for i in range(150)]
        verify(log, Checkpoint(ORIGIN, 1200, log.root()))


def _process_writer(target: str, writer: int) -> None:  # pragma: no cover - runs in a child process
    with open_log(target, validate=False) as log:

        def work(thread: int) -> None:
            for batch in range(50):
                log.extend([{"w": writer, "t": thread, "i": batch * 125 + i} for i in range(125)])

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


@pytest.mark.slow
def test_four_processes_append_100000_entries_without_loss_or_duplicates(target: str) -> None:
    """[AUD-113] 4 processes x 25,000 appends (4 threads each): 100,000 entries, each once, in each writer's
    order, and the log verifies."""
    open_log(target, origin=ORIGIN).close()
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_process_writer, args=(target, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0
    with open_log(target) as log:
        assert log.size == 100_000
        seen: dict[tuple[int, int], list[int]] = {}
        for entry in log:
            r = entry.record
            seen.setdefault((r["w"], r["t"]), []).append(r["i"])
        assert len(seen) == 16
        assert all(values == list(range(6250)) for values in seen.values())
        verify(log, Checkpoint(ORIGIN, log.size, log.root()))


# --- queries -----------------------------------------------------------------------------------------------


def test_query_filters_by_actor_resource_outcome_and_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    with open_log(tmp_path / "log", origin=ORIGIN) as log:
        log.extend([record(i, user=f"user-{i % 2}", outcome="denied" if i % 5 == 0 else "success") for i in range(20)])
        assert len(list(log.query(actor="user-1"))) == 10
        assert len(list(log.query(actor="triage-agent"))) == 20
        assert [e.index for e in log.query(outcome="denied")] == [0, 5, 10, 15]
        assert {e.record["target"]["name"] for e in log.query(resource="tool-2")} == {"tool-2"}
        since, until = datetime(2026, 11, 23, 8, 0, 5, tzinfo=UTC), datetime(2026, 11, 23, 8, 0, 8)
        assert [e.index for e in log.query(since=since, until=until)] == [5, 6, 7]


# --- proof documents from strangers ------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@functools.cache
def _proofs() -> tuple[dict[str, Any], dict[str, Any]]:
    folder = Path(tempfile.mkdtemp(prefix="aifabric-proofs-"))
    try:
        with open_log(folder / "log", origin=ORIGIN) as log:
            log.extend([record(i) for i in range(9)])
            old = log.checkpoint(SIGNER)
            log.extend([record(i) for i in range(9, 13)])
            new = log.checkpoint(SIGNER)
            return log.prove(4, new), log.prove_consistency(old, new)
    finally:
        shutil.rmtree(folder)


@given(doc=JSON)
def test_arbitrary_json_is_refused_with_an_aifabric_error(doc: Any) -> None:
    """[AUD-115] verify_proof never raises anything but aifabric's errors, whatever it is given."""
    with pytest.raises(AifabricError):
        verify_proof(doc if isinstance(doc, dict) else {"proof": doc}, [SIGNER.verifier])


@given(
    which=st.integers(0, 1),
    member=st.sampled_from(
        ["type", "origin", "treeSize", "leafIndex", "oldSize", "hashes", "record", "checkpoint", "oldCheckpoint"]
    ),
    value=JSON,
)
def test_a_proof_with_any_member_replaced_is_refused_or_still_true(which: int, member: str, value: Any) -> None:
    """[AUD-115] Replace one member of a valid proof with anything: either it is refused with an aifabric error,
    or (when the value changed nothing that is checked) it still verifies."""
    doc = {**_proofs()[which], member: value}
    try:
        verify_proof(doc, [SIGNER.verifier])
    except AifabricError:
        return
    assert doc == _proofs()[which] or member not in _proofs()[which] or value == _proofs()[which][member]


def test_export_writes_records_as_stored_or_as_ocsf(tmp_path: Path) -> None:
    with open_log(tmp_path / "log", origin=ORIGIN) as log:
        log.extend([record(i, outcome="denied" if i % 2 else "success") for i in range(6)])
        out = io.BytesIO()
        assert log.export(out, outcome="denied") == 3
        assert out.getvalue().splitlines() == [e.data for e in log if e.index % 2]
        ocsf = io.BytesIO()
        assert log.export(ocsf, format="ocsf") == 6
        assert {json.loads(line)["class_uid"] for line in ocsf.getvalue().splitlines()} == {6003}
        with pytest.raises(ValueError, match="jsonl or ocsf"):
            log.export(out, format="xml")
