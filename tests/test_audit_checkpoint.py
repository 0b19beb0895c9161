"""aifabric.audit.checkpoint: C2SP checkpoints and signed notes, against Go's sumdb/note and tlog and sigstore-python.

Peers: golang.org/x/mod/sumdb/note and /tlog, driven through tests/peers/go_tlog (built here from Debian's
``golang-go`` and ``golang-golang-x-mod-dev``, offline; skipped without them), and sigstore-python's Rekor
checkpoint parser. The published example of Go's note package doc (PeterNeumann) is a fixed vector.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal.rekor.checkpoint import SignedCheckpoint

from aifabric import AifabricError, KeyFileError, KeyMismatchError, ProofError, SignatureError
from aifabric.audit.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from aifabric.audit.merkle import consistency_proof, inclusion_proof, leaf_hash, root_hash

PEER = Path(__file__).parent / "peers" / "go_tlog"
GOPATH = Path("/usr/share/gocode")  # Debian's golang-golang-x-mod-dev installs the library source here

ORIGIN = "example.com/audit"
ROOT = hashlib.sha256(b"a root").digest()


def key(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


SIGNER = NoteSigner(ORIGIN, key(1))
OTHER = NoteSigner("witness.example", key(2))
IMPOSTOR = NoteSigner(ORIGIN, key(3))  # the log's name, another key


ED25519 = bytes([1])  # the signed-note algorithm byte


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def public(signer: NoteSigner) -> bytes:
    return signer.verifier.raw


# ---------------------------------------------------------------------------------------------------------------
# Layout and round trips.


def test_text_layout() -> None:
    """AUD-106: origin, decimal size, base64 root hash and extension lines, each ending in a newline."""
    checkpoint = Checkpoint(ORIGIN, 20852163, ROOT, ("Timestamp: 1", "— other"))
    assert checkpoint.text() == f"{ORIGIN}\n20852163\n{b64(ROOT)}\nTimestamp: 1\n— other\n"
    assert Checkpoint.parse(checkpoint.text()) == checkpoint
    assert Checkpoint(ORIGIN, 0, ROOT).text() == f"{ORIGIN}\n0\n{b64(ROOT)}\n"


def test_c2sp_example_text_parses() -> None:
    """AUD-106: the example checkpoint text of c2sp.org/tlog-checkpoint."""
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    checkpoint = Checkpoint.parse(text)
    assert (checkpoint.origin, checkpoint.size, checkpoint.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert checkpoint.text() == text


def test_signed_note_layout_and_key_id() -> None:
    """AUD-107: text, blank line, one ``— name base64(keyid || Ed25519 signature)`` line per signer."""
    checkpoint = Checkpoint(ORIGIN, 7, ROOT)
    note = checkpoint.sign(SIGNER, OTHER)
    text = checkpoint.text()
    assert note.startswith(text + "\n— ") and note.endswith("\n")
    lines = note[len(text) + 1 :].splitlines()
    assert [line.split(" ")[:2] for line in lines] == [["—", ORIGIN], ["—", "witness.example"]]
    for signer, line in zip((SIGNER, OTHER), lines, strict=True):
        raw = base64.b64decode(line.split(" ")[2], validate=True)
        key_id = hashlib.sha256(signer.name.encode() + b"\n\x01" + public(signer)).digest()[:4]
        assert raw[:4] == key_id == signer.verifier.key_id
        signer.verifier.public_key.verify(raw[4:], text.encode())  # raises if it does not verify
        assert line == signer.signature_line(text).rstrip("\n")
    assert open_checkpoint(note, [SIGNER.verifier]) == checkpoint


def test_key_strings_round_trip() -> None:
    """AUD-107: ``name+keyid+base64(0x01 || key)`` and ``PRIVATE+KEY+...`` strings, read back."""
    vkey = str(SIGNER.verifier)
    assert vkey == f"{ORIGIN}+{SIGNER.verifier.key_id.hex()}+{b64(ED25519 + public(SIGNER))}"
    assert NoteVerifier.parse(vkey).raw == public(SIGNER)
    assert NoteVerifier.parse(vkey + "\n").key_id == SIGNER.verifier.key_id
    skey = str(SIGNER)
    assert skey == f"PRIVATE+KEY+{ORIGIN}+{SIGNER.verifier.key_id.hex()}+{b64(ED25519 + bytes([1]) * 32)}"
    assert str(NoteSigner.parse(skey)) == skey


# The example of Go's golang.org/x/mod/sumdb/note package documentation (note.go), a published vector.
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def seed_of(skey: str) -> NoteSigner:
    """A Go signer key read by hand (name and seed), to check what NoteSigner writes from it."""
    _, _, name, _, encoded = skey.split("+", 4)
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(base64.b64decode(encoded)[1:]))


def test_go_documentation_vector() -> None:
    """AUD-107: Go's published key pair and signature: same key strings, same (deterministic) signature line."""
    signer = seed_of(GO_SKEY)
    assert str(signer) == GO_SKEY
    assert str(signer.verifier) == GO_VKEY
    assert NoteVerifier.parse(GO_VKEY).key_id.hex() == "c74f20a3"
    assert signer.signature_line(GO_TEXT) == GO_SIG
    # The signature verifies; the text is just not a checkpoint (two lines), which is what is reported.
    with pytest.raises(ProofError, match="at least 3 lines"):
        open_checkpoint(GO_TEXT + "\n" + GO_SIG, [NoteVerifier.parse(GO_VKEY)])


# ---------------------------------------------------------------------------------------------------------------
# Opening notes.


def test_open_ignores_unknown_keys() -> None:
    """AUD-107: signatures by keys the verifier does not know are skipped, wherever they stand."""
    checkpoint = Checkpoint(ORIGIN, 3, ROOT, ("ext",))
    for note in (checkpoint.sign(OTHER, SIGNER), checkpoint.sign(SIGNER, OTHER), checkpoint.sign(IMPOSTOR, SIGNER)):
        assert open_checkpoint(note, [SIGNER.verifier], origin=ORIGIN) == checkpoint
    assert open_checkpoint(checkpoint.sign(OTHER, SIGNER), [OTHER.verifier]) == checkpoint


def test_open_rejects_a_bad_known_signature() -> None:
    """AUD-107: a signature by a known key that does not verify rejects the note, even beside a good one."""
    checkpoint = Checkpoint(ORIGIN, 3, ROOT)
    note = checkpoint.sign(SIGNER)
    forged = note.replace("\n3\n", "\n4\n", 1)
    with pytest.raises(SignatureError):
        open_checkpoint(forged, [SIGNER.verifier])
    line = SIGNER.signature_line(checkpoint.text())
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    bad_line = f"— {ORIGIN} {b64(bytes(raw))}\n"
    with pytest.raises(SignatureError):
        open_checkpoint(note + bad_line, [SIGNER.verifier])
    with pytest.raises(SignatureError):
        open_checkpoint(checkpoint.sign(OTHER) + bad_line, [SIGNER.verifier, OTHER.verifier])


def test_open_needs_a_known_signer() -> None:
    """AUD-107: a note no trusted key signed raises KeyMismatchError (the same name with another key included)."""
    checkpoint = Checkpoint(ORIGIN, 3, ROOT)
    for note in (checkpoint.sign(OTHER), checkpoint.sign(IMPOSTOR)):
        with pytest.raises(KeyMismatchError):
            open_checkpoint(note, [SIGNER.verifier])
    with pytest.raises(KeyMismatchError):
        open_checkpoint(checkpoint.sign(SIGNER), [])


def test_open_checks_the_origin() -> None:
    """AUD-106: a checkpoint of another log is refused when the origin is given."""
    note = Checkpoint("other.example/log", 3, ROOT).sign(SIGNER)
    assert open_checkpoint(note, [SIGNER.verifier]).origin == "other.example/log"
    with pytest.raises(ProofError, match=r"not 'example\.com/audit'"):
        open_checkpoint(note, [SIGNER.verifier], origin=ORIGIN)


GOOD_TEXT = f"{ORIGIN}\n3\n{b64(ROOT)}\n"

MALFORMED_TEXTS = {
    "no trailing newline": GOOD_TEXT[:-1],
    "two lines": f"{ORIGIN}\n3\n",
    "empty origin": f"\n3\n{b64(ROOT)}\n",
    "origin with a space at the end": f"{ORIGIN} \n3\n{b64(ROOT)}\n",
    "leading zero size": f"{ORIGIN}\n03\n{b64(ROOT)}\n",
    "negative size": f"{ORIGIN}\n-3\n{b64(ROOT)}\n",
    "plus sign size": f"{ORIGIN}\n+3\n{b64(ROOT)}\n",
    "hex size": f"{ORIGIN}\n0x3\n{b64(ROOT)}\n",
    "spaced size": f"{ORIGIN}\n 3\n{b64(ROOT)}\n",
    "non-ASCII digit size": f"{ORIGIN}\n\u0663\n{b64(ROOT)}\n",
    "31-byte root": f"{ORIGIN}\n3\n{b64(ROOT[:31])}\n",
    "33-byte root": f"{ORIGIN}\n3\n{b64(ROOT + b'x')}\n",
    "unpadded root": f"{ORIGIN}\n3\n{b64(ROOT).rstrip('=')}\n",
    "url-safe root": f"{ORIGIN}\n3\n{b64(bytes([255]) * 32).replace('/', '_')}\n",
    "root with a space": f"{ORIGIN}\n3\n {b64(ROOT)}\n",
    "empty extension line": f"{GOOD_TEXT}\nmore\n",
    "empty last extension line": f"{GOOD_TEXT}\n",
}


@pytest.mark.parametrize("text", MALFORMED_TEXTS.values(), ids=MALFORMED_TEXTS.keys())
def test_malformed_checkpoint_texts(text: str) -> None:
    """AUD-106: malformed checkpoint texts raise ProofError, read alone or as a signed note."""
    with pytest.raises(ProofError):
        Checkpoint.parse(text)
    if text.endswith("\n"):
        with pytest.raises(ProofError):
            open_checkpoint(text + "\n" + SIGNER.signature_line(text), [SIGNER.verifier])


GOOD_NOTE = Checkpoint(ORIGIN, 3, ROOT).sign(SIGNER)
GOOD_SIG = SIGNER.signature_line(GOOD_TEXT)

MALFORMED_NOTES = {
    "no blank line": GOOD_TEXT + GOOD_SIG,
    "no signature": GOOD_TEXT + "\n",
    "no trailing newline": GOOD_NOTE[:-1],
    "blank line after the signatures": GOOD_NOTE + "\n",
    "carriage return": GOOD_NOTE.replace(f"{ORIGIN}\n", f"{ORIGIN}\r\n", 1),
    "tab": GOOD_NOTE.replace(ORIGIN, ORIGIN + "\t", 1),
    "NUL": GOOD_NOTE.replace("\n3\n", "\n3\x00\n", 1),
    "hyphen instead of em dash": GOOD_NOTE.replace("—", "-"),
    "no space after the dash": GOOD_NOTE.replace("— ", "—"),
    "bad base64": GOOD_NOTE.replace(GOOD_SIG.split(" ")[2][:4], "!!!!"),
    "unpadded base64": GOOD_TEXT + "\n" + GOOD_SIG.replace("=\n", "\n"),
    "short signature": GOOD_TEXT + f"\n— {ORIGIN} {b64(b'1234')}\n",
    "empty signature": GOOD_TEXT + f"\n— {ORIGIN} \n",
    "name with a plus": GOOD_TEXT + f"\n— a+b {b64(bytes(68))}\n" + GOOD_SIG,
    "three fields": GOOD_TEXT + f"\n— {ORIGIN} {b64(bytes(68))} x\n",
    "too many signatures": GOOD_NOTE + "".join(OTHER.signature_line(GOOD_TEXT) for _ in range(64)),
}


@pytest.mark.parametrize("note", MALFORMED_NOTES.values(), ids=MALFORMED_NOTES.keys())
def test_malformed_notes(note: str) -> None:
    """AUD-107: malformed signed notes raise ProofError before any signature is trusted."""
    with pytest.raises(ProofError):
        open_checkpoint(note, [SIGNER.verifier])


BAD_KEYS = {
    "empty": "",
    "no key": f"{ORIGIN}+{SIGNER.verifier.key_id.hex()}",
    "wrong key id": str(SIGNER.verifier).replace(SIGNER.verifier.key_id.hex(), "00000000"),
    "wrong name": str(SIGNER.verifier).replace(ORIGIN, "example.org", 1),
    "algorithm 2": f"{ORIGIN}+{SIGNER.verifier.key_id.hex()}+{b64(bytes([2]) + public(SIGNER))}",
    "short key": f"{ORIGIN}+{SIGNER.verifier.key_id.hex()}+{b64(ED25519 + bytes(31))}",
    "space in name": str(OTHER.verifier).replace("witness.example", "witness example"),
    "private key": str(SIGNER),
}


@pytest.mark.parametrize("text", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_bad_verifier_keys(text: str) -> None:
    with pytest.raises(KeyFileError):
        NoteVerifier.parse(text)


def test_bad_signer_keys() -> None:
    for text in ("", str(SIGNER.verifier), str(SIGNER).replace("PRIVATE", "private"), str(SIGNER)[:-4]):
        with pytest.raises(KeyFileError):
            NoteSigner.parse(text)
    with pytest.raises(KeyFileError):
        NoteSigner("has space", key(1))


# ---------------------------------------------------------------------------------------------------------------
# Properties: round trips, and nothing but AifabricError out of any reader.

# Signed notes carry no control characters but newline, so neither do the lines of a checkpoint.
printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"))
origins = st.text(printable, min_size=1, max_size=30).filter(lambda s: s == s.strip())
extension_lines = st.lists(st.text(printable, min_size=1, max_size=20), max_size=3)


@given(
    origin=origins,
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=extension_lines,
)
def test_checkpoint_text_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    """AUD-106: every checkpoint reads back from its text."""
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.parse(checkpoint.text()) == checkpoint


@given(
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    names=st.lists(st.from_regex(r"[a-z0-9.\-/]{1,12}", fullmatch=True), min_size=1, max_size=3),
)
def test_signed_round_trip(size: int, root: bytes, names: list[str]) -> None:
    """AUD-107: a note signed by several keys opens with any one of them."""
    signers = [NoteSigner(name, key(i + 10)) for i, name in enumerate(names)]
    checkpoint = Checkpoint(ORIGIN, size, root)
    note = checkpoint.sign(*signers)
    for signer in signers:
        assert open_checkpoint(note, [signer.verifier]) == checkpoint
        assert NoteVerifier.parse(str(signer.verifier)).key_id == signer.verifier.key_id


def only_aifabric_errors(call: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    with contextlib.suppress(AifabricError):
        call(*args, **kwargs)


any_text = st.text(st.characters(codec="utf-8"), max_size=200)
note_pieces = st.sampled_from(["\n", "\n\n", "—", "— ", " ", "+", "=", "/", "A", "0", "9", "\x00", "\t", "é", ORIGIN])


@st.composite
def edited_notes(draw: st.DrawFn) -> str:
    """A valid note with a few characters deleted, inserted or replaced."""
    note = draw(st.sampled_from([GOOD_NOTE, Checkpoint(ORIGIN, 12, ROOT, ("x",)).sign(OTHER, SIGNER)]))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(note)))
        cut = draw(st.integers(0, 2))
        note = note[:at] + "".join(draw(st.lists(note_pieces, max_size=2))) + note[at + cut :]
    return note


@given(text=any_text | edited_notes())
@settings(max_examples=300)
def test_readers_raise_only_aifabric_errors(text: str) -> None:
    """AUD-106, AUD-107: any text thrown at the readers raises nothing but AifabricError subclasses."""
    only_aifabric_errors(open_checkpoint, text, [SIGNER.verifier, OTHER.verifier])
    only_aifabric_errors(open_checkpoint, text, [SIGNER.verifier], origin=ORIGIN)
    only_aifabric_errors(Checkpoint.parse, text)
    only_aifabric_errors(NoteVerifier.parse, text)
    only_aifabric_errors(NoteSigner.parse, text)


@given(data=st.binary(max_size=200))
def test_bytes_decoded_any_way_raise_only_aifabric_errors(data: bytes) -> None:
    """AUD-106, AUD-107: bytes decoded leniently (surrogateescape, latin-1) raise only AifabricError."""
    for text in (data.decode("utf-8", "surrogateescape"), data.decode("latin-1")):
        only_aifabric_errors(open_checkpoint, text, [SIGNER.verifier])
        only_aifabric_errors(Checkpoint.parse, text)
        only_aifabric_errors(NoteVerifier.parse, text)
        only_aifabric_errors(NoteSigner.parse, text)


# ---------------------------------------------------------------------------------------------------------------
# sigstore-python's Rekor checkpoint reader.


@given(size=st.integers(0, 2**63 - 1), root=st.binary(min_size=32, max_size=32), extensions=extension_lines)
def test_sigstore_python_reads_our_checkpoints(size: int, root: bytes, extensions: list[str]) -> None:
    """AUD-106, AUD-107: SignedCheckpoint.from_text reads our origin, size, root, extensions and signature."""
    extensions = [line.strip() for line in extensions if line.strip()]
    checkpoint = Checkpoint(ORIGIN, size, root, tuple(extensions))
    signed = SignedCheckpoint.from_text(checkpoint.sign(SIGNER, OTHER))
    assert signed.checkpoint.origin == ORIGIN
    assert signed.checkpoint.log_size == size
    assert signed.checkpoint.log_hash == root.hex()
    assert signed.checkpoint.other_content == extensions
    assert signed.signed_note.note == checkpoint.text()
    [ours, theirs] = signed.signed_note.signatures
    assert (ours.name, ours.sig_hash, theirs.name) == (ORIGIN, SIGNER.verifier.key_id, OTHER.name)
    SIGNER.verifier.public_key.verify(base64.b64decode(ours.signature), signed.signed_note.note.encode())


# ---------------------------------------------------------------------------------------------------------------
# Go: golang.org/x/mod/sumdb/note and /tlog.


@pytest.fixture(scope="session")
def go_peer(tmp_path_factory: pytest.TempPathFactory) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """tests/peers/go_tlog built offline against Debian's x/mod source; a function from request to response."""
    go = shutil.which("go")
    if go is None:
        pytest.skip("the Go toolchain is absent (apt-get install golang-go golang-golang-x-mod-dev)")
    if not (GOPATH / "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.skip(f"golang.org/x/mod is absent from {GOPATH} (apt-get install golang-golang-x-mod-dev)")
    out = tmp_path_factory.mktemp("go_tlog")
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": str(GOPATH),
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOTOOLCHAIN": "local",
        "CGO_ENABLED": "0",
    }
    exe = out / "go_tlog"
    build = subprocess.run(
        [go, "build", "-o", str(exe), "."], cwd=PEER, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert build.returncode == 0, build.stderr

    def call(request: dict[str, Any]) -> dict[str, Any]:
        done = subprocess.run(
            [str(exe)], input=json.dumps(request), capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        response: dict[str, Any] = json.loads(done.stdout)
        return response

    return call


def raw(note: str) -> str:
    """A note as the peer's JSON carries bytes (base64)."""
    return b64(note.encode())


def unb64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(x) for x in items]


def test_go_opens_our_notes(go_peer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """AUD-106, AUD-107: note.Open verifies our signatures with our key strings; tlog.ParseTree reads our text."""
    checkpoint = Checkpoint(ORIGIN, 20852163, ROOT, ("Timestamp: 1679349379012118479",))
    note = checkpoint.sign(SIGNER, OTHER)
    sumdb = Checkpoint("go.sum database tree", 42, ROOT)
    response = go_peer(
        {
            "open": [
                {"note": raw(note), "vkeys": [str(SIGNER.verifier)]},
                {"note": raw(note), "vkeys": [str(SIGNER.verifier), str(OTHER.verifier)]},
                {"note": raw(sumdb.sign(SIGNER)), "vkeys": [str(SIGNER.verifier)]},
            ],
            "parse_tree": [raw(sumdb.text())],
        }
    )
    first, both, tree_note = response["open"]
    assert first == {"error": "", "kind": "", "text": checkpoint.text(), "sigs": [ORIGIN], "unverified": [OTHER.name]}
    assert both["sigs"] == [ORIGIN, OTHER.name] and both["unverified"] == []
    assert tree_note["text"] == sumdb.text()
    [tree] = response["parse_tree"]
    assert (tree["error"], tree["size"], base64.b64decode(tree["root"])) == ("", 42, ROOT)


def test_go_signs_what_we_sign(go_peer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """AUD-107: Go reads our private key string and signs byte for byte what we do; its own keys work with us."""
    checkpoint = Checkpoint(ORIGIN, 5, ROOT, ("ext",))
    response = go_peer(
        {
            "sign": [
                {"text": checkpoint.text(), "skeys": [str(SIGNER), str(OTHER)]},
                {"text": checkpoint.text(), "generate": [ORIGIN, "go.witness"]},
            ]
        }
    )
    ours, generated = response["sign"]
    assert ours["error"] == "" and ours["note"] == checkpoint.sign(SIGNER, OTHER)
    assert generated["error"] == ""
    for skey, vkey in zip(generated["skeys"], generated["vkeys"], strict=True):
        signer, verifier = seed_of(skey), NoteVerifier.parse(vkey)
        assert (str(signer), str(signer.verifier), str(verifier)) == (skey, vkey, vkey)
        assert open_checkpoint(generated["note"], [verifier], origin=ORIGIN) == checkpoint
    tampered = generated["note"].replace("\n5\n", "\n6\n", 1)
    with pytest.raises(SignatureError):
        open_checkpoint(tampered, [NoteVerifier.parse(generated["vkeys"][0])])
    check = go_peer({"open": [{"note": raw(tampered), "vkeys": generated["vkeys"][:1]}]})
    assert check["open"][0]["kind"] == "invalid_signature"


# How each outcome of note.Open reads in our error tree. note.Open does not read the checkpoint text, so where Go
# accepts a note we may still refuse its text as a checkpoint (ProofError).
GO_KINDS: dict[str, tuple[type[AifabricError] | None, ...]] = {
    "": (None, ProofError),
    "malformed": (ProofError,),
    # Go stops at the first signature line that fails; we read every line first, so a malformed line after a bad
    # signature is a ProofError here.
    "invalid_signature": (SignatureError, ProofError),
    "unverified": (KeyMismatchError,),
}


def our_kind(note: str) -> type[AifabricError] | None:
    try:
        open_checkpoint(note, [SIGNER.verifier])
    except AifabricError as exc:
        return type(exc)
    return None


@given(notes=st.lists(edited_notes(), max_size=40))
@settings(max_examples=15)
def test_go_and_we_judge_edited_notes_alike(
    go_peer: Callable[[dict[str, Any]], dict[str, Any]], notes: list[str]
) -> None:
    """AUD-107: for notes a few edits away from valid ones, note.Open and open_checkpoint reach the same verdict."""
    notes = [GOOD_NOTE, GOOD_NOTE.replace("\n3\n", "\n4\n"), Checkpoint(ORIGIN, 3, ROOT).sign(OTHER), *notes]
    response = go_peer({"open": [{"note": raw(note), "vkeys": [str(SIGNER.verifier)]} for note in notes]})
    for note, theirs in zip(notes, response["open"], strict=True):
        assert theirs["kind"] in GO_KINDS, theirs
        assert our_kind(note) in GO_KINDS[theirs["kind"]], (note, theirs)


LOG = [f"entry {i}".encode() for i in range(1100)]
HASHES = [leaf_hash(x) for x in LOG]


def test_go_tlog_proves_what_we_prove(go_peer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """AUD-102, AUD-104, AUD-105: tlog.TreeHash, ProveRecord and ProveTree equal ours for every pair up to 40 leaves.

    tlog gives the empty tree an all-zero hash; RFC 9162 (and we) give SHA-256 of the empty string, so size 0 is
    left out.
    """
    small = 40
    sizes = range(1, small + 1)
    records = [[i, n] for n in sizes for i in range(n)]
    trees = [[m, n] for n in sizes for m in range(1, n + 1)]
    response = go_peer(
        {"leaves": [b64(x) for x in LOG[:small]], "roots": list(sizes), "prove_record": records, "prove_tree": trees}
    )
    assert unb64(response["roots"]) == [root_hash(HASHES[:n]) for n in sizes]
    for (i, n), proof in zip(records, response["prove_record"], strict=True):
        assert unb64(proof) == inclusion_proof(HASHES, i, n), (i, n)
    for (m, n), proof in zip(trees, response["prove_tree"], strict=True):
        assert unb64(proof) == consistency_proof(HASHES, m, n), (m, n)


def test_go_tlog_checks_our_proofs(go_peer: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """AUD-104, AUD-105: tlog.CheckRecord and CheckTree accept our proofs in a 1100-entry log, not altered ones."""
    n = len(HASHES)
    root = root_hash(HASHES)
    indexes = [0, 1, 2, 511, 512, 513, 700, 1023, 1024, 1098, 1099]
    olds = [1, 2, 3, 511, 512, 513, 700, 1023, 1024, 1098, 1099, 1100]
    records = []
    for i in indexes:
        proof = inclusion_proof(HASHES, i)
        records.append(
            {"index": i, "size": n, "leaf": b64(HASHES[i]), "root": b64(root), "proof": [b64(p) for p in proof]}
        )
        bent = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
        records.append({**records[-1], "proof": [b64(p) for p in bent]})
    trees = []
    for m in olds:
        proof = consistency_proof(HASHES, m)
        old_root = root_hash(HASHES[:m])
        trees.append(
            {"old": m, "new": n, "old_root": b64(old_root), "new_root": b64(root), "proof": [b64(p) for p in proof]}
        )
        trees.append({**trees[-1], "proof": [b64(p) for p in proof[:-1]] if proof else [b64(root)]})
    response = go_peer({"check_record": records, "check_tree": trees})
    assert response["check_record"][0::2] == [""] * len(indexes)
    assert all(response["check_record"][1::2])
    assert response["check_tree"][0::2] == [""] * len(olds)
    assert all(response["check_tree"][1::2])


# ---------------------------------------------------------------------------------------------------------------
# Defects found by these tests, each kept as a regression test.


def test_signer_keys_whose_base64_has_a_plus() -> None:
    """AUD-107: Go's published signer key (its base64 holds a '+') reads back; so does any seed."""
    assert str(NoteSigner.parse(GO_SKEY)) == GO_SKEY
    for seed in range(256):
        signer = NoteSigner("n", key(seed))
        assert str(NoteSigner.parse(str(signer))) == str(signer)


def test_base64_is_canonical() -> None:
    """AUD-106, AUD-107: base64 with excess '=' (Go: malformed) or set pad bits (a second text) is malformed."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    encoded = b64(ROOT)
    pad_bits = encoded[:-2] + alphabet[alphabet.index(encoded[-2]) + 1] + "="
    assert base64.b64decode(pad_bits) == ROOT
    with pytest.raises(ProofError):
        Checkpoint.parse(f"{ORIGIN}\n3\n{pad_bits}\n")
    excess = f"— {ORIGIN} {b64(SIGNER.verifier.key_id + bytes(65))}=\n"
    with pytest.raises(ProofError):
        open_checkpoint(GOOD_TEXT + "\n" + excess, [SIGNER.verifier])


def test_lone_surrogates_are_proof_errors() -> None:
    """AUD-107: a note with a lone surrogate (not UTF-8) is malformed, as note.Open says; not a UnicodeEncodeError."""
    note = GOOD_NOTE.replace("\n3\n", "\n\ud800\n", 1)
    with pytest.raises(ProofError):
        open_checkpoint(note, [SIGNER.verifier])


def test_checkpoints_a_note_cannot_carry_are_refused() -> None:
    """AUD-106: control characters or lone surrogates in a checkpoint are refused when it is made, not signed."""
    for origin, extensions in [(ORIGIN, ("a\x00b",)), ("a\tb", ()), ("o\ud800", ()), (ORIGIN, ("\ud800",))]:
        with pytest.raises(ProofError):
            Checkpoint(origin, 1, ROOT, extensions)


def test_sizes_past_uint64_are_refused() -> None:
    """AUD-106: a tree size is a uint64; 2**64 does not parse."""
    with pytest.raises(ProofError):
        Checkpoint.parse(f"{ORIGIN}\n{2**64}\n{b64(ROOT)}\n")


def test_key_ids_are_eight_hex_digits() -> None:
    """AUD-107: a key ID is eight hex digits, as note.NewVerifier requires."""
    key_id = SIGNER.verifier.key_id.hex()
    spaced = str(SIGNER.verifier).replace(key_id, f"{key_id[:2]} {key_id[2:]}")
    with pytest.raises(KeyFileError):
        NoteVerifier.parse(spaced)
