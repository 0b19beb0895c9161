"""``aifabric audit append|checkpoint|verify|prove|export|tail``: keep, sign, prove and read audit logs."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, NoReturn

import typer

from aifabric._cli._common import exiter, guard
from aifabric._errors import DocumentError, VerificationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from aifabric.audit import AuditLog, NoteSigner, NoteVerifier

__all__ = ["register"]

LogArgument = Annotated[
    str, typer.Argument(help="The log: a directory, a *.sqlite file, or a postgresql:// DSN.", show_default=False)
]
KeyOption = Annotated[
    list[str],
    typer.Option(
        "--key",
        help="A trusted log key: a verifier key (name+keyid+base64, as text or in a file) or an Ed25519 PEM public "
        "key file, named by the log's origin (repeatable).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
_FORMATS: Final = ("jsonl", "ocsf")


def register(app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Callable[[Any], None]) -> None:
    """Add the ``audit`` command group."""
    audit_app = typer.Typer(help="Append to, sign, verify, prove and export audit logs.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    die = exiter(fail)
    guarded = guard(die, invalid=(VerificationError, DocumentError))  # 1: does not verify or validate

    @audit_app.command("append")
    @guarded
    def append(
        log: LogArgument,
        paths: Annotated[list[str], typer.Argument(help="JSON or JSON Lines files of records, or - for stdin.")],
        origin: Annotated[
            str | None, typer.Option(help="The log's name, required when the log is created (e.g. example.com/audit).")
        ] = None,
        chain: Annotated[bool, typer.Option(help="Fill each record's previousHash with the entry before it.")] = False,
        durability: Annotated[
            str, typer.Option(help="fsync (on stable storage before returning) or os (handed to the OS).")
        ] = "fsync",
        as_json: JsonOption = False,
    ) -> None:
        """Validate every record, then append them all as one batch. Exit 1, appending nothing, if any is invalid."""
        from aifabric._errors import ValidationError
        from aifabric.validation import iter_documents, validate

        if durability not in ("fsync", "os"):
            die(f"--durability is fsync or os, not {durability!r}", 2)
        records: list[Any] = []
        problems: list[str] = []
        for source, docs in iter_documents(paths):
            if isinstance(docs, Exception):
                problems.append(f"{source}: {docs}")
                continue
            items = docs[0] if len(docs) == 1 and isinstance(docs[0], list) else docs
            for n, record in enumerate(items):
                label = source if len(items) == 1 else f"{source}#{n}"
                try:
                    validate(record, schema_url="https://aifabric.dev/schemas/audit-record/1.0.0.json", source=label)
                except ValidationError as exc:
                    problems.extend(str(p) for p in exc.problems)
                    continue
                records.append(record)
        if problems:
            for line in problems:
                _echo(f"invalid {line}", err=True)
            die(f"{len(problems)} problems: nothing appended", 1)
        if not records:
            die("no records found", 2)
        with _open(die, log, origin=origin, chain=chain, durability=durability) as opened:
            first = opened.extend(records)
            size = opened.size
        if as_json:
            dump({"first": first, "count": len(records), "size": size})
        else:
            _echo(f"appended {len(records)} records at {first}..{first + len(records) - 1}; the log holds {size}")

    @audit_app.command("checkpoint")
    @guarded
    def checkpoint(
        log: LogArgument,
        key: Annotated[Path, typer.Option(help="The log's Ed25519 key: a PEM private key or a Go note signer key.")],
        password_env: Annotated[
            str | None, typer.Option("--password-env", help="An environment variable holding the key's password.")
        ] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the checkpoint here too.")] = None,
    ) -> None:
        """Sign the log's current tree head; print the checkpoint (and, on stderr, the key to verify it with)."""
        with _open(die, log, create=False) as opened:
            signer = _signer(key, password_env, opened.origin)
            note = opened.checkpoint(signer)
        if out is not None:
            out.write_text(note, "utf-8")
        sys.stdout.write(note)
        _echo(f"verifier key: {signer.verifier}", err=True)

    @audit_app.command("verify")
    @guarded
    def verify(
        log: Annotated[str | None, typer.Argument(help="The log (leave out with --proof).", show_default=False)] = None,
        checkpoint: Annotated[Path | None, typer.Option(help="A signed checkpoint to verify the log against.")] = None,
        proof: Annotated[Path | None, typer.Option(help="An audit-proof document to verify on its own.")] = None,
        key: KeyOption = [],  # noqa: B006 - typer reads the default, never mutates it
        as_json: JsonOption = False,
    ) -> None:
        """Verify a log against a checkpoint, or a proof with nothing but the log's key. Exit 1 on any failure."""
        from aifabric import audit
        from aifabric._errors import DocumentError
        from aifabric.validation import iter_documents

        if (log is None) == (proof is None) or (log is not None and checkpoint is None):
            die("give a LOG and --checkpoint, or --proof alone", 2)
        if not key:
            die("give the log's key with --key (repeatable)", 2)
        if proof is not None:
            ((source, docs),) = list(iter_documents([str(proof)]))
            if isinstance(docs, DocumentError):
                raise docs
            doc = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else {}
            if not doc:
                die(f"{source}: an audit-proof is one JSON object", 1)
            head = audit.verify_proof(doc, _verifiers(key, str(doc.get("origin", ""))))
            what = f"{doc['type']} proof" + (f" of entry {doc['leafIndex']}" if doc["type"] == "inclusion" else "")
        else:
            assert log is not None
            assert checkpoint is not None
            with _open(die, log, create=False, readonly=True) as opened:
                note = checkpoint.read_text("utf-8")
                head = audit.verify(opened, note, _verifiers(key, opened.origin))
            what = f"log {log}"
        if as_json:
            dump({"verified": True, "origin": head.origin, "treeSize": head.size, "rootHash": head.root.hex()})
        else:
            _echo(f"verified {what} against {head.origin} at tree size {head.size}")

    @audit_app.command("prove")
    @guarded
    def prove(
        log: LogArgument,
        index: Annotated[int | None, typer.Argument(help="The entry to prove included.", min=0)] = None,
        checkpoint: Annotated[
            Path | None, typer.Option(help="The signed checkpoint to prove against (default: the log's latest).")
        ] = None,
        since: Annotated[
            Path | None, typer.Option(help="Prove the log consistent from this older checkpoint instead.")
        ] = None,
    ) -> None:
        """Print an audit-proof document: the inclusion of INDEX, or consistency from --since."""
        if (index is None) == (since is None):
            die("give an INDEX, or --since OLD-CHECKPOINT", 2)
        with _open(die, log, create=False, readonly=True) as opened:
            note = checkpoint.read_text("utf-8") if checkpoint else _latest(opened)
            if note is None:
                die("the log has signed no checkpoint: run aifabric audit checkpoint, or give --checkpoint", 2)
            if index is not None:
                dump(opened.prove(index, note))
            else:
                assert since is not None
                dump(opened.prove_consistency(since.read_text("utf-8"), note))

    @audit_app.command("export")
    @guarded
    def export(
        log: LogArgument,
        format: Annotated[str, typer.Option("--format", help="jsonl (the records) or ocsf (OCSF events).")] = "jsonl",
        actor: Annotated[str | None, typer.Option(help="Only this actor (or principal acted for).")] = None,
        resource: Annotated[str | None, typer.Option(help="Only records whose target has this name.")] = None,
        action: Annotated[str | None, typer.Option(help="Only this action, e.g. tool.call.")] = None,
        outcome: Annotated[str | None, typer.Option(help="Only this outcome: success, failure, denied.")] = None,
        since: Annotated[datetime | None, typer.Option(help="From this time (UTC unless an offset is given).")] = None,
        until: Annotated[datetime | None, typer.Option(help="Before this time.")] = None,
        out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    ) -> None:
        """Write the records that match every filter as JSON Lines, as stored or as OCSF events."""
        if format not in _FORMATS:
            die(f"--format is one of {', '.join(_FORMATS)}, not {format!r}", 2)
        filters = {"actor": actor, "resource": resource, "action": action, "outcome": outcome}
        with _open(die, log, create=False, readonly=True) as opened:
            if out is None:
                count = opened.export(sys.stdout.buffer, format=format, since=since, until=until, **filters)
            else:
                with out.open("wb") as stream:
                    count = opened.export(stream, format=format, since=since, until=until, **filters)
        _echo(f"exported {count} records", err=True)

    @audit_app.command("tail")
    @guarded
    def tail(
        log: LogArgument,
        lines: Annotated[int, typer.Option("-n", help="How many of the last records to show.", min=0)] = 10,
        follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing records as they arrive.")] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Print the last records, one line each (or as stored, with --json)."""
        with _open(die, log, create=False, readonly=True) as opened:
            at = max(0, opened.size - lines)
            while True:
                for entry in opened.read(at):
                    sys.stdout.write(entry.data.decode() + "\n" if as_json else _line(entry.index, entry.record))
                    at = entry.index + 1
                sys.stdout.flush()
                if not follow:
                    return
                time.sleep(0.5)


def _open(die: Callable[[str, int], NoReturn], target: str, **options: Any) -> AuditLog:
    from aifabric.audit import open_log

    if not options.get("create", True) and "://" not in target and not Path(target).exists():
        die(f"{target}: no such audit log", 2)
    if options.get("create", True) and "origin" in options and options["origin"] is None:
        options.pop("origin")
    return open_log(target, validate=False, **options)


def _latest(log: AuditLog) -> str | None:
    kept = log.store.checkpoints()
    return kept[-1][1] if kept else None


def _signer(path: Path, password_env: str | None, origin: str) -> NoteSigner:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from aifabric._cli._signing import _password
    from aifabric._errors import KeyFileError
    from aifabric.audit import NoteSigner
    from aifabric.signing.keys import load_private_key

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key: {exc.strerror or exc}") from None
    if raw.startswith(b"PRIVATE+KEY+"):
        return NoteSigner.parse(raw.decode("ascii", "replace"))
    key = load_private_key(path, password=_password(password_env))
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: checkpoints are signed with Ed25519 keys (aifabric keys generate --type ed25519)")
    return NoteSigner(origin, key)


def _verifiers(keys: list[str], origin: str) -> list[NoteVerifier]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from aifabric._errors import KeyFileError
    from aifabric.audit import NoteVerifier
    from aifabric.signing.keys import load_public_key

    out = []
    for key in keys:
        path = Path(key)
        text = path.read_text("utf-8", "replace").strip() if path.is_file() else key
        if text.startswith("-----BEGIN"):
            public = load_public_key(path)
            if not isinstance(public, Ed25519PublicKey):
                raise KeyFileError(f"{key}: audit logs are signed with Ed25519 keys")
            out.append(NoteVerifier(origin, public))
        else:
            out.append(NoteVerifier.parse(text))
    return out


def _line(index: int, record: dict[str, Any]) -> str:
    from aifabric._cli import _printable

    def field(*path: str) -> str:
        value: Any = record
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        return str(value) if value is not None else "-"

    actor = field("actor", "id")
    principal = field("actor", "onBehalfOf", "id")
    who = actor if principal == "-" else f"{actor} for {principal}"
    text = f"#{index} {field('time')} {who} {field('action')} {field('target', 'name')} {field('outcome')}"
    return str(_printable(text)) + "\n"


def _echo(text: str, *, err: bool = False) -> None:
    from aifabric._cli import _printable

    typer.echo(_printable(text), err=err)
