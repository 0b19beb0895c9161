"""Sign and verify model artifacts (a file or a directory tree) in the OpenSSF model-signing v1.0 format.

The bundle verifies with the ``model-signing`` tool's own verifier (EC keys and certificates), and bundles
that tool writes verify here, keyless Sigstore ones included.

Examples:
    >>> import pathlib, tempfile
    >>> from aifabric.signing.artifacts import sign_model, verify_model
    >>> from aifabric.signing.keys import generate_key
    >>> model = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (model / "weights.bin").write_bytes(b"0" * 1000)
    >>> key = generate_key("ecdsa-p256")
    >>> bundle = sign_model(model, key)
    >>> [name for name, _ in verify_model(model, bundle, key=key.public_key()).items]
    ['weights.bin']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from cryptography import x509

from aifabric._errors import BundleError, DigestMismatchError, DocumentError
from aifabric.signing._seal import seal
from aifabric.signing._verify import open_bundle
from aifabric.signing.bundle import Bundle
from aifabric.signing.digests import DEFAULT_IGNORE, Algorithm, Manifest, Method, hash_tree
from aifabric.signing.dsse import statement
from aifabric.signing.keys import PrivateKey, PublicKey

__all__ = ["MODEL_PREDICATE", "sign_model", "verify_model"]

MODEL_PREDICATE: Final = "https://model_signing/signature/v1.0"


def sign_model(
    path: str | Path,
    key: PrivateKey | None = None,
    *,
    identity_token: str | None = None,
    instance: Literal["production", "staging"] = "production",
    algorithm: Algorithm = "sha256",
    method: Method = "files",
    shard_size: int | None = None,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    allow_symlinks: bool = False,
    certificates: Sequence[x509.Certificate] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Bundle:
    """Hash a model and sign its manifest; the bundle is what ``model-signing`` writes as ``model.sig``.

    Sign with ``key`` (named by its hint, or by ``certificates`` when given), or keyless with a Sigstore OIDC
    ``identity_token`` (needs the network and the ``sigstore`` extra).
    """
    options: dict[str, Any] = {} if shard_size is None else {"shard_size": shard_size}
    manifest = hash_tree(
        path,
        algorithm=algorithm,
        method=method,
        ignore=ignore,
        allow_symlinks=allow_symlinks,
        workers=workers,
        progress=progress,
        **options,
    )
    subject = {"name": manifest.name, "digest": {"sha256": manifest.root_digest()}}
    predicate = {"serialization": manifest.serialization.to_json(), "resources": manifest.resources()}
    body = statement([subject], MODEL_PREDICATE, predicate)
    return seal(body, key, certificates=certificates, identity_token=identity_token, instance=instance)


def verify_model(
    path: str | Path,
    bundle: Bundle | bytes | str | Mapping[str, Any],
    *,
    key: PublicKey | None = None,
    roots: Sequence[x509.Certificate] = (),
    identity: str | None = None,
    issuer: str | None = None,
    trusted_root: str | Path | None = None,
    instance: Literal["production", "staging"] = "production",
    ignore: Iterable[str] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Check who signed a model and that the model on disk is exactly what was signed.

    The model is hashed the way the signature says it was (method, algorithm, shard size, ignored paths);
    ``ignore`` adds paths to leave out, such as the signature file when it sits inside the model.

    Raises:
        VerificationError: the specific subclass; a DigestMismatchError lists the changed, added and missing
            files.
    """
    found, _ = open_bundle(
        bundle,
        key=key,
        roots=roots,
        identity=identity,
        issuer=issuer,
        trusted_root=trusted_root,
        instance=instance,
    )
    if found.get("predicateType") != MODEL_PREDICATE:
        raise BundleError(f"the statement's predicate is {found.get('predicateType')!r}, not {MODEL_PREDICATE}")
    if len(found["subject"]) != 1:
        raise BundleError("a model signature's statement has exactly one subject")
    subject = found["subject"][0]
    predicate = found.get("predicate")
    if not isinstance(predicate, dict) or not isinstance(subject.get("name"), str):
        raise BundleError("the model signature's statement has no predicate or subject name")
    signed = Manifest.from_predicate(subject["name"], predicate)
    signed.check_root(str(subject.get("digest", {}).get("sha256")))
    spec = signed.serialization
    options: dict[str, Any] = {} if spec.shard_size is None else {"shard_size": spec.shard_size}
    try:
        local = hash_tree(
            path,
            algorithm=spec.hash_type,
            method=spec.method,
            ignore=[*spec.ignore_paths, *ignore],
            allow_symlinks=spec.allow_symlinks,
            workers=workers,
            progress=progress,
            **options,
        )
    except DocumentError as exc:
        raise DigestMismatchError(
            f"the model cannot be hashed as it was signed: {exc.reason}", changed=[_relative(exc.source, path)]
        ) from None
    changed, added, missing = local.diff(signed)
    if changed or added or missing:
        raise DigestMismatchError(
            "the model differs from what was signed", changed=changed, added=added, missing=missing
        )
    return local


def _relative(source: str | None, root: str | Path) -> str:
    """A path the hasher refused, relative to the model when it lies inside it."""
    try:
        return Path(source or "").relative_to(root).as_posix()
    except ValueError:
        return source or str(root)
