"""``aifabric sign``, ``aifabric verify`` and ``aifabric keys``: models and documents, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from aifabric.signing.keys import PrivateKey

__all__ = ["register"]

KindOption = Annotated[
    str, typer.Option("--kind", help="auto (a file naming an aifabric schema is a document), model or document.")
]
IgnoreOption = Annotated[
    list[str] | None,
    typer.Option("--ignore", help="Models: a path, relative to the model, to leave out (repeatable)."),
]
PasswordEnv = Annotated[
    str | None, typer.Option("--password-env", help="Name of an environment variable holding the key's password.")
]


def register(app: typer.Typer, keys_app: typer.Typer, *, fail: Callable[[str, int], Any], dump: Any) -> None:
    """Add the signing commands to the CLI."""

    @app.command()
    def sign(
        path: Annotated[Path, typer.Argument(help="A model file or directory, or an aifabric document.")],
        key: Annotated[Path | None, typer.Option(help="The private key (PEM).")] = None,
        password_env: PasswordEnv = None,
        identity_token_env: Annotated[
            str | None,
            typer.Option(
                "--identity-token-env",
                help="Keyless: the name of an environment variable holding a Sigstore OIDC identity token "
                "(signing then needs the network).",
            ),
        ] = None,
        staging: Annotated[bool, typer.Option(help="Keyless: use Sigstore's staging instance.")] = False,
        cert: Annotated[
            Path | None, typer.Option(help="The signing certificate chain (PEM, leaf first) to carry in the bundle.")
        ] = None,
        output: Annotated[
            Path | None, typer.Option(help="Where to write the bundle (default: PATH.sig, PATH.sigstore.json).")
        ] = None,
        embed: Annotated[bool, typer.Option(help="Documents: add the signature to the document's signatures.")] = False,
        algorithm: Annotated[str, typer.Option(help="Models: sha256 or blake3.")] = "sha256",
        method: Annotated[str, typer.Option(help="Models: files or shards.")] = "files",
        ignore: IgnoreOption = None,
        kind: KindOption = "auto",
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    ) -> None:
        """Sign a model (OpenSSF model-signing format) or an aifabric document (detached or embedded)."""
        import orjson

        from aifabric._errors import AifabricError
        from aifabric.signing import artifacts, documents, keys
        from aifabric.signing.digests import DEFAULT_IGNORE

        if (key is None) == (identity_token_env is None):
            fail("sign with --key, or keyless with --identity-token-env", 2)
        try:
            private = keys.load_private_key(key, password=_password(password_env)) if key else None
            chain = keys.load_certificates(cert) if cert else []
            keyless: dict[str, Any] = {
                "identity_token": _secret(identity_token_env) if identity_token_env else None,
                "instance": "staging" if staging else "production",
            }
            doc = _document_or_none(path, kind)
            if doc is not None:
                bundle = documents.sign_document(doc, private, certificates=chain, **keyless)
                if embed:
                    target = output or path
                    target.write_bytes(orjson.dumps(documents.attach(doc, bundle), option=orjson.OPT_INDENT_2))
                else:
                    target = output or path.with_name(path.name + ".sigstore.json")
                    target.write_bytes(bundle.dumps())
            else:
                with _progress(path, as_json) as advance:
                    bundle = artifacts.sign_model(
                        path,
                        private,
                        **keyless,
                        algorithm=_choice(algorithm, ("sha256", "blake3")),
                        method=_choice(method, ("files", "shards")),
                        certificates=chain,
                        progress=advance,
                        ignore=[*DEFAULT_IGNORE, *(ignore or []), *_inside(output, path)],
                    )
                target = output or path.with_name(path.name + ".sig")
                target.write_bytes(bundle.dumps())
        except AifabricError as exc:
            fail(str(exc), 1)
        except OSError as exc:
            fail(f"{exc.filename or path}: {exc.strerror}", 1)
        what = "document" if doc is not None else "model"
        if as_json:
            dump({"signed": str(path), "kind": what, "bundle": str(target), "embedded": embed and doc is not None})
        else:
            typer.echo(f"signed {what} {path} -> {target}")

    @app.command()
    def verify(
        path: Annotated[Path, typer.Argument(help="A model file or directory, or an aifabric document.")],
        bundle: Annotated[
            Path | None, typer.Option(help="The bundle (default: PATH.sig or PATH.sigstore.json; embedded for docs).")
        ] = None,
        key: Annotated[Path | None, typer.Option(help="The public key (PEM) the bundle must be signed with.")] = None,
        roots: Annotated[
            Path | None, typer.Option(help="Trusted root certificates (PEM) for certificate-signed bundles.")
        ] = None,
        identity: Annotated[str | None, typer.Option(help="Keyless: the signer's identity (certificate SAN).")] = None,
        issuer: Annotated[str | None, typer.Option(help="Keyless: the OIDC issuer that vouched for it.")] = None,
        trusted_root: Annotated[
            Path | None, typer.Option(help="Keyless: a Sigstore trusted_root.json (default: the shipped one).")
        ] = None,
        staging: Annotated[bool, typer.Option(help="Keyless: use Sigstore's staging instance.")] = False,
        ignore: IgnoreOption = None,
        kind: KindOption = "auto",
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    ) -> None:
        """Verify a model or document signature. Exit 0 if it verifies, 1 if not (with the reason)."""
        from aifabric._errors import AifabricError, DigestMismatchError
        from aifabric.signing import artifacts, documents, keys

        if key is None and roots is None and identity is None:
            fail("say who must have signed: --key, --roots, or --identity with --issuer", 2)
        report: dict[str, Any] = {"path": str(path), "verified": False}
        try:
            public = keys.load_public_key(key) if key else None
            trusted = keys.load_certificates(roots) if roots else []
            policy: dict[str, Any] = {
                "key": public,
                "roots": trusted,
                "identity": identity,
                "issuer": issuer,
                "trusted_root": trusted_root,
                "instance": "staging" if staging else "production",
            }
            doc = _document_or_none(path, kind)
            if doc is not None:
                source = bundle.read_bytes() if bundle else _beside(path, ".sigstore.json")
                result = documents.verify_document(doc, source, **policy)
                report |= {"kind": "document", "digest": {"sha256": result.digest}, "signer": _signer(result.signer)}
            else:
                source_path = bundle or path.with_name(path.name + ".sig")
                with _progress(path, as_json) as advance:
                    manifest = artifacts.verify_model(
                        path,
                        source_path.read_bytes(),
                        **policy,
                        progress=advance,
                        ignore=[*(ignore or []), *_inside(source_path, path)],
                    )
                report |= {"kind": "model", "files": len({n.split(":", 1)[0] for n, _ in manifest.items})}
            report["verified"] = True
        except DigestMismatchError as exc:
            report |= {
                "error": exc.code,
                "reason": str(exc),
                "changed": exc.changed,
                "added": exc.added,
                "missing": exc.missing,
            }
        except AifabricError as exc:
            report |= {"error": exc.code, "reason": str(exc)}
        except OSError as exc:
            report |= {"error": "AIF-READ", "reason": f"{exc.filename or path}: {exc.strerror}"}
        if as_json:
            dump(report)
        elif report["verified"]:
            typer.echo(f"verified {report['kind']} {path}")
        else:
            typer.echo(f"NOT verified {path}: {report['reason']}", err=True)
        raise typer.Exit(0 if report["verified"] else 1)

    @keys_app.command("generate")
    def generate(
        out: Annotated[Path, typer.Argument(help="Where to write the private key; the public key goes to OUT.pub.")],
        key_type: Annotated[str, typer.Option("--type", help="ed25519, ecdsa-p256, ecdsa-p384 or ecdsa-p521.")] = (
            "ecdsa-p256"
        ),
        password_env: PasswordEnv = None,
        unencrypted: Annotated[
            bool, typer.Option(help="Write the private key without a password (mode 0600 all the same).")
        ] = False,
    ) -> None:
        """Generate a key pair: OUT (private, PKCS#8 PEM, mode 0600) and OUT.pub."""
        from aifabric._errors import AifabricError
        from aifabric.signing import keys

        try:
            private: PrivateKey = keys.generate_key(_choice(key_type, keys.KEY_TYPES))
            password = _password(password_env)
            if password is None and not unencrypted:
                fail("give --password-env NAME (a variable holding the password), or --unencrypted", 2)
            keys.write_private_key(out, private, password=password, unencrypted=unencrypted)
            public = out.with_name(out.name + ".pub")
            public.write_bytes(keys.public_pem(private.public_key()))
        except AifabricError as exc:
            fail(str(exc), 1)
        except OSError as exc:
            fail(f"{exc.filename or out}: {exc.strerror}", 1)
        typer.echo(f"wrote {out} (private, 0600) and {public}")


def _password(env: str | None) -> bytes | None:
    return None if env is None else _secret(env).encode()


def _secret(env: str) -> str:
    """A secret read from the environment variable the user named (never from the command line)."""
    value = os.environ.get(env)
    if value is None:
        from aifabric._errors import KeyFileError

        raise KeyFileError(f"the environment variable {env} is not set")
    return value


def _choice(value: str, allowed: tuple[str, ...]) -> Any:
    if value not in allowed:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _document_or_none(path: Path, kind: str) -> dict[str, Any] | None:
    """The aifabric document at ``path``, or None when it is a model (decided by ``kind``, or by content)."""
    from aifabric._errors import AifabricError
    from aifabric.schemas import Registry
    from aifabric.validation import load_documents

    if kind == "model" or path.is_dir():
        return None
    if kind not in ("auto", "document"):
        raise typer.BadParameter(f"--kind must be auto, model or document, not {kind!r}")
    try:
        docs = (
            load_documents(path.read_bytes(), source=str(path))
            if path.suffix.lower() in (".json", ".yaml", ".yml") or kind == "document"
            else []
        )
    except AifabricError:
        if kind == "document":
            raise
        return None
    doc = docs[0] if len(docs) == 1 else None
    if isinstance(doc, dict) and doc.get("schemaURL") in Registry.default():
        return doc
    if kind == "document":
        from aifabric._errors import DocumentError

        raise DocumentError("not an aifabric document (no schemaURL the registry knows)", source=str(path))
    return None


def _beside(path: Path, suffix: str) -> bytes | None:
    """The bundle written beside ``path`` (``PATH<suffix>``), or None when there is none."""
    candidate = path.with_name(path.name + suffix)
    return candidate.read_bytes() if candidate.exists() else None


def _inside(bundle: Path | None, model: Path) -> list[str]:
    """The bundle's path relative to the model directory when it lies inside it (so it is not hashed)."""
    if bundle is None or not model.is_dir():
        return []
    try:
        return [bundle.resolve().relative_to(model.resolve()).as_posix()]
    except ValueError:
        return []


def _signer(signer: Any) -> dict[str, Any]:
    return {
        k: v
        for k, v in (
            ("method", signer.method),
            ("keyHint", signer.key_hint),
            ("identity", signer.identity),
            ("issuer", signer.issuer),
        )
        if v
    }


class _progress:  # noqa: N801 - used as a context manager, like a function
    """A rich progress bar on stderr for large trees when stderr is a terminal; a no-op otherwise."""

    def __init__(self, path: Path, quiet: bool) -> None:
        self._total = 0 if quiet or not sys.stderr.isatty() else _size(path)
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self._total < 64 * 1024 * 1024:
            return None
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        self._bar = Progress("hashing", BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True)
        self._bar.start()
        task = self._bar.add_task("hash", total=self._total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc: object) -> Literal[False]:
        if self._bar is not None:
            self._bar.stop()
        return False


def _size(path: Path) -> int:
    def walk() -> Iterator[int]:
        if path.is_file():
            yield path.stat().st_size
            return
        for root, _, files in os.walk(path):
            for name in files:
                try:
                    yield Path(root, name).stat().st_size
                except OSError:
                    continue

    return sum(walk())
