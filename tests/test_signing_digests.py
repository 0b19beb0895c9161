"""aifabric.signing.digests: byte-compatible with model-signing's own hashing, the same whatever the threading."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aifabric import BundleError, DigestMismatchError, DocumentError
from aifabric.signing.digests import (
    DEFAULT_IGNORE,
    Algorithm,
    Manifest,
    Method,
    Serialization,
    _hash_tree,
    hash_tree,
)

SHARD = 4096  # small shards, so a few KiB make a file of several shards

# model-signing 1.1.1 imports pyOpenSSL without declaring it; skip, rather than fail, where it is absent.
pytest.importorskip("OpenSSL")
ms_hashing = pytest.importorskip("model_signing.hashing")
ms_signing = pytest.importorskip("model_signing._signing.signing")
json_format = pytest.importorskip("google.protobuf.json_format")


# --- model-signing as the peer -------------------------------------------------------------------------------


def model_signing_config(
    method: Method,
    algorithm: Algorithm,
    *,
    shard_size: int = SHARD,
    allow_symlinks: bool = False,
    ignore: tuple[str, ...] = (),
) -> Any:
    """model-signing's public hashing configuration for the same choices."""
    config = ms_hashing.Config()
    if method == "files":
        config.use_file_serialization(hashing_algorithm=algorithm, allow_symlinks=allow_symlinks)
    else:
        config.use_shard_serialization(
            hashing_algorithm=algorithm, shard_size=shard_size, allow_symlinks=allow_symlinks
        )
    config.set_ignored_paths(paths=list(ignore), ignore_git_paths=True)
    return config.set_allow_symlinks(allow_symlinks)


def model_signing_hash(path: Path, config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The in-toto statement model-signing signs for ``path`` (its exact JSON), and its in-memory serialization."""
    manifest = config.hash(path)
    statement = json.loads(json_format.MessageToJson(ms_signing.Payload(manifest).statement.pb))
    return statement, dict(manifest.serialization_type)


def assert_same_as_model_signing(ours: Manifest, statement: dict[str, Any], serialization: dict[str, Any]) -> None:
    predicate = statement["predicate"]
    assert ours.resources() == predicate["resources"]
    assert ours.root_digest() == statement["subject"][0]["digest"]["sha256"]
    assert ours.name == statement["subject"][0]["name"]
    # model-signing keeps ignore_paths in a frozenset, so its order follows the hash seed; all else is exact.
    mine = ours.serialization.to_json()
    assert list(mine) == list(serialization)
    assert {**mine, "ignore_paths": sorted(mine.get("ignore_paths", []))} == {
        **serialization,
        "ignore_paths": sorted(serialization.get("ignore_paths", [])),
    }
    signed = Manifest.from_predicate(statement["subject"][0]["name"], predicate)
    signed.check_root(statement["subject"][0]["digest"]["sha256"])
    assert signed.serialization.shard_size == ours.serialization.shard_size
    assert signed.items == ours.items
    assert ours.diff(signed) == ([], [], [])


def model_signing_reads(ours: Manifest) -> Any:
    """Our statement, as JSON text, through model-signing's own parser (which checks the root digest)."""
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": ours.name, "digest": {"sha256": ours.root_digest()}}],
        "predicateType": "https://model_signing/signature/v1.0",
        "predicate": {"serialization": ours.serialization.to_json(), "resources": ours.resources()},
    }
    return ms_signing.dsse_payload_to_manifest(json.loads(json.dumps(statement)))


# --- trees ---------------------------------------------------------------------------------------------------


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """Nested folders, an empty file, files of several shards, a big file (mapped for BLAKE3), an ignored .git."""
    root = tmp_path / "my-model"
    write(root / "config.json", b'{"layers": 2}')
    write(root / "empty.bin", b"")
    write(root / "weights" / "layer-0.bin", os.urandom(3 * SHARD + 17))
    write(root / "weights" / "layer-1.bin", os.urandom(SHARD))
    write(root / "weights" / "deep" / "a b ü.txt", "ü".encode())
    write(root / "weights" / "deep" / "big.safetensors", os.urandom(5 * 1024 * 1024 + 3))
    write(root / "a-c", b"sorts after a/ in path order")
    write(root / "a" / "b", b"sorts before a-c in path order")
    write(root / ".hidden", b"dot files count")
    write(root / ".git" / "objects" / "pack", b"ignored")
    write(root / ".gitattributes", b"ignored")
    return root


# --- interop -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["files", "shards"])
@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_tree_matches_model_signing(model: Path, method: Method, algorithm: Algorithm) -> None:
    config = model_signing_config(method, algorithm)
    statement, serialization = model_signing_hash(model, config)
    ours = hash_tree(model, method=method, algorithm=algorithm, shard_size=SHARD)
    assert_same_as_model_signing(ours, statement, serialization)
    # The other way: model-signing parses what we would sign, and finds the tree it hashes equal to it.
    assert model_signing_reads(ours) == config.hash(model)
    parsed = model_signing_reads(ours).serialization_type
    assert {**parsed, "ignore_paths": set(parsed["ignore_paths"])} == {
        **serialization,
        "ignore_paths": set(serialization["ignore_paths"]),
    }
    names = [name for name, _ in ours.items]
    assert not any(name.startswith((".git/", ".gitattributes")) for name in names)
    if method == "shards" and algorithm == "sha256":
        assert "weights/layer-0.bin:12288:12305" in names
        assert not any(name.startswith("empty.bin") for name in names)  # no bytes, no shards
    else:
        assert "empty.bin" in names  # BLAKE3 "shards" are files, as in model-signing


@pytest.mark.parametrize("method", ["files", "shards"])
@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_single_file_matches_model_signing(model: Path, method: Method, algorithm: Algorithm) -> None:
    path = model / "weights" / "layer-0.bin"
    statement, serialization = model_signing_hash(path, model_signing_config(method, algorithm))
    ours = hash_tree(path, method=method, algorithm=algorithm, shard_size=SHARD)
    assert_same_as_model_signing(ours, statement, serialization)
    assert ours.name == "layer-0.bin"
    assert ours.items[0][0] == ("." if method == "files" or algorithm == "blake3" else ".:0:4096")


def test_default_shard_size_and_ignores_match_model_signing(model: Path) -> None:
    statement, serialization = model_signing_hash(model, ms_hashing.Config().use_shard_serialization())
    ours = hash_tree(model, method="shards")
    assert_same_as_model_signing(ours, statement, serialization)
    assert ours.serialization.shard_size == 1_000_000_000
    assert set(DEFAULT_IGNORE) == set(serialization["ignore_paths"])
    assert ours.resources()[0]["algorithm"] == "sha256-sharded-1000000000"


def test_custom_ignores_match_model_signing(model: Path) -> None:
    ignore = ("weights/deep", "a-c", "config.json/", "not/there")
    config = model_signing_config("files", "sha256", ignore=ignore)
    statement, serialization = model_signing_hash(model, config)
    ours = hash_tree(model, ignore=[*DEFAULT_IGNORE, *ignore])
    assert_same_as_model_signing(ours, statement, serialization)
    assert [name for name, _ in ours.items] == [
        ".hidden",
        "a/b",
        "empty.bin",
        "weights/layer-0.bin",
        "weights/layer-1.bin",
    ]
    assert "config.json" in ours.serialization.ignore_paths  # written normalised, as model-signing does


def test_model_name_is_derived_as_model_signing_does(model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(model)
    assert hash_tree(".").name == "my-model"
    assert hash_tree(Path("weights") / "..").name == "my-model"
    assert hash_tree("weights/").name == "weights"
    assert hash_tree(".", name="llama").name == "llama"
    statement, _ = model_signing_hash(Path(), ms_hashing.Config())
    assert statement["subject"][0]["name"] == "my-model"


def test_a_signature_model_signing_writes_reads_back(model: Path) -> None:
    statement, _ = model_signing_hash(model, model_signing_config("shards", "sha256"))
    serialization = statement["predicate"]["serialization"]
    assert serialization["shard_size"] == float(SHARD)  # protobuf's JSON writes the integer as a double
    signed = Manifest.from_predicate(statement["subject"][0]["name"], statement["predicate"])
    assert signed.serialization.shard_size == SHARD
    assert signed.serialization.to_json()["shard_size"] == SHARD


# --- symlinks ------------------------------------------------------------------------------------------------


@pytest.fixture
def linked(model: Path) -> Path:
    outside = write(model.parent / "outside" / "escaped.bin", b"outside the model")
    (model / "link-in.bin").symlink_to("config.json")
    (model / "link-out.bin").symlink_to(outside)
    (model / "link-dir").symlink_to("weights", target_is_directory=True)
    (model / "link-dir-out").symlink_to(outside.parent, target_is_directory=True)
    return model


@pytest.mark.parametrize("method", ["files", "shards"])
def test_symlinks_allowed_match_model_signing(linked: Path, method: Method) -> None:
    statement, serialization = model_signing_hash(linked, model_signing_config(method, "sha256", allow_symlinks=True))
    ours = hash_tree(linked, method=method, shard_size=SHARD, allow_symlinks=True)
    assert_same_as_model_signing(ours, statement, serialization)
    files = {name.rsplit(":", 2)[0] if method == "shards" else name for name, _ in ours.items}
    assert {"link-in.bin", "link-out.bin"} <= files  # links to files are followed, even out of the tree
    assert not any(name.startswith("link-dir") for name in files)  # links to folders are not entered
    assert ours.serialization.allow_symlinks is True


def test_symlinks_are_refused_by_default(linked: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        hash_tree(linked)
    assert caught.value.rule == "symlink"
    assert caught.value.source is not None and Path(caught.value.source).is_symlink()
    with pytest.raises(ValueError, match="symlink"):
        model_signing_config("files", "sha256").hash(linked)


@pytest.mark.parametrize("target", ["config.json", "weights"])
def test_a_linked_root_is_refused_unless_allowed(model: Path, target: str) -> None:
    root = model.parent / "root-link"
    root.symlink_to(model / target)
    with pytest.raises(DocumentError) as caught:
        hash_tree(root)
    assert (caught.value.rule, caught.value.source) == ("symlink", str(root))
    assert hash_tree(root, allow_symlinks=True).items == hash_tree(model / target).items


def test_a_dangling_symlink_is_a_read_error_when_links_are_allowed(model: Path) -> None:
    (model / "gone").symlink_to(model / "nowhere")
    with pytest.raises(DocumentError) as caught:
        hash_tree(model, allow_symlinks=True)
    assert caught.value.rule == "read"


def test_a_symlink_inside_an_ignored_folder_is_never_looked_at(model: Path) -> None:
    (model / ".git" / "HEAD").symlink_to("objects")
    assert hash_tree(model).items == hash_tree(model, ignore=[*DEFAULT_IGNORE, "not-there"]).items


# --- ignore paths --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["..", "../x", "a/../../b", "weights/../..", "/etc", "/", "", "."])
def test_ignore_paths_outside_the_model_are_refused(model: Path, bad: str) -> None:
    with pytest.raises(DocumentError) as caught:
        hash_tree(model, ignore=[bad])
    assert (caught.value.rule, caught.value.source) == ("path", bad)


def test_ignore_takes_a_file_or_a_whole_folder_and_a_lone_string(model: Path) -> None:
    names = [name for name, _ in hash_tree(model, ignore=["weights", ".git", "./config.json"]).items]
    assert names == [".gitattributes", ".hidden", "a/b", "a-c", "empty.bin"]
    assert next(n for n, _ in hash_tree(model, ignore=".git").items) == ".gitattributes"
    partial = [name for name, _ in hash_tree(model, ignore=["weight"]).items]  # a prefix is not a folder
    assert "weights/layer-1.bin" in partial


# --- special files -------------------------------------------------------------------------------------------


def finishes(fn: Callable[[], object], seconds: float = 20.0) -> BaseException | None:
    """Run ``fn`` in a thread; fail if it is still running after ``seconds`` (a FIFO read would block)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            fn()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), "hashing hung"
    return outcome[0]


@pytest.mark.parametrize("where", ["in the tree", "as the root"])
def test_a_fifo_is_refused_and_never_hangs(model: Path, where: str) -> None:
    fifo = model / "weights" / "pipe"
    os.mkfifo(fifo)
    error = finishes(lambda: hash_tree(model if where == "in the tree" else fifo))
    assert isinstance(error, DocumentError)
    assert (error.rule, error.source) == ("read", str(fifo))


def test_a_socket_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "m"
    write(root / "a.bin", b"a")
    path = root / "s"  # AF_UNIX paths are short, so the model lives right under tmp_path
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        assert stat.S_ISSOCK(path.lstat().st_mode)
        error = finishes(lambda: hash_tree(root, method="shards"))
    finally:
        server.close()
    assert isinstance(error, DocumentError)
    assert error.rule == "read"


def test_a_missing_path_is_a_read_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        hash_tree(tmp_path / "absent")
    assert caught.value.rule == "read"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_an_unreadable_file_is_a_read_error(model: Path) -> None:
    locked = model / "config.json"
    locked.chmod(0)
    try:
        with pytest.raises(DocumentError) as caught:
            hash_tree(model)
    finally:
        locked.chmod(0o644)
    assert (caught.value.rule, caught.value.source) == ("read", str(locked))


# --- diff ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["files", "shards"])
def test_diff_names_changed_added_and_missing_files(model: Path, method: Method) -> None:
    def tree() -> Manifest:
        return hash_tree(model, method=method, shard_size=SHARD)

    signed = tree()
    assert tree().diff(signed) == ([], [], [])

    layer = model / "weights" / "layer-0.bin"
    data = bytearray(layer.read_bytes())
    data[2 * SHARD + 5] ^= 1  # one byte of one shard
    layer.write_bytes(data)
    assert tree().diff(signed) == (["weights/layer-0.bin"], [], [])
    data[2 * SHARD + 5] ^= 1
    layer.write_bytes(data)

    (model / "config.json").rename(model / "config2.json")
    assert tree().diff(signed) == ([], ["config2.json"], ["config.json"])
    (model / "config2.json").rename(model / "config.json")

    write(model / "weights" / "extra.bin", b"new")
    (model / "a-c").unlink()
    assert tree().diff(signed) == ([], ["weights/extra.bin"], ["a-c"])
    (model / "weights" / "extra.bin").unlink()
    write(model / "a-c", b"sorts after a/ in path order")
    assert tree().diff(signed) == ([], [], [])

    one, two = model / "weights" / "layer-1.bin", model / "config.json"
    first, second = one.read_bytes(), two.read_bytes()
    one.write_bytes(second)
    two.write_bytes(first)
    assert tree().diff(signed) == (["config.json", "weights/layer-1.bin"], [], [])


def test_a_file_that_grew_a_shard_is_changed_not_added(model: Path) -> None:
    signed = hash_tree(model, method="shards", shard_size=SHARD)
    with (model / "weights" / "layer-1.bin").open("ab") as grow:
        grow.write(b"x")
    assert hash_tree(model, method="shards", shard_size=SHARD).diff(signed) == (["weights/layer-1.bin"], [], [])


# --- the same result whatever the threading ------------------------------------------------------------------

NAME = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="/\\:"), min_size=1, max_size=12
).filter(lambda s: s not in {".", ".."} and len(s.encode()) < 200)
SIZE = st.sampled_from([0, 1, 7, SHARD - 1, SHARD, SHARD + 1, 2 * SHARD, 3 * SHARD + 5]) | st.integers(0, 3 * SHARD)
TREE = st.dictionaries(
    st.lists(NAME, min_size=1, max_size=3).map(tuple), st.tuples(SIZE, st.integers(0, 2**32)), max_size=8
)


def build(root: Path, tree: dict[tuple[str, ...], tuple[int, int]]) -> dict[str, bytes]:
    """Write the tree (skipping paths that clash with a file already there); return name -> content."""
    written: dict[str, bytes] = {}
    for parts, (size, seed) in sorted(tree.items()):
        path = root.joinpath(*parts)
        if any(root.joinpath(*parts[:i]).is_file() for i in range(1, len(parts) + 1)) or path.is_dir():
            continue
        data = hashlib.shake_256(seed.to_bytes(8, "little")).digest(size) if size else b""
        write(path, data)
        written["/".join(parts)] = data
    return written


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aifabric-digests-") as folder:
        yield Path(folder)


@given(tree=TREE, method=st.sampled_from(["files", "shards"]), algorithm=st.sampled_from(["sha256", "blake3"]))
def test_the_manifest_is_the_same_whatever_the_workers_and_buffers(
    scratch: Path, tree: dict[tuple[str, ...], tuple[int, int]], method: Method, algorithm: Algorithm
) -> None:
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        root = Path(folder) / "m"
        root.mkdir()
        written = build(root, tree)
        options: dict[str, Any] = {"method": method, "algorithm": algorithm, "shard_size": SHARD, "ignore": ()}
        reference = _hash_tree(root, workers=1, **options)
        for workers, buffer_size, pipeline_min, mmap_min in [
            (2, 1, 0, 1),
            (8, 7, 1, 1 << 40),
            (8, SHARD, 1 << 40, 2),
            (None, 1 << 20, 0, 0),
        ]:
            again = _hash_tree(
                root,
                **options,
                workers=workers,
                buffer_size=buffer_size,
                pipeline_min=pipeline_min,
                mmap_min=mmap_min,
            )
            assert again == reference
    if method == "files" or algorithm == "blake3":  # each file's digest is the plain digest of its bytes
        expected = {
            name: (hashlib.sha256(data) if algorithm == "sha256" else blake3.blake3(data)).hexdigest()
            for name, data in written.items()
        }
        assert dict(reference.items) == expected
        assert [name for name, _ in reference.items] == sorted(expected, key=lambda n: n.split("/"))
    else:
        assert dict(reference.items) == {
            f"{name}:{start}:{min(start + SHARD, len(data))}": hashlib.sha256(data[start : start + SHARD]).hexdigest()
            for name, data in written.items()
            for start in range(0, len(data), SHARD)
        }


@pytest.mark.parametrize("method", ["files", "shards"])
@pytest.mark.parametrize("algorithm", ["sha256", "blake3"])
def test_progress_counts_every_byte(model: Path, method: Method, algorithm: Algorithm) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def progress(n: int) -> None:
        with lock:
            seen.append(n)

    hash_tree(model, method=method, algorithm=algorithm, shard_size=SHARD, progress=progress, workers=3)
    total = sum(p.stat().st_size for p in model.rglob("*") if p.is_file() and ".git" not in p.parts)
    total -= (model / ".gitattributes").stat().st_size
    assert sum(seen) == total
    assert all(n > 0 for n in seen)


def test_an_error_in_progress_stops_hashing_and_leaves_no_thread(model: Path) -> None:
    def progress(n: int) -> None:
        raise RuntimeError("stop")

    before = threading.active_count()
    big = model / "weights" / "deep" / "big.safetensors"
    cases: list[tuple[Path, Algorithm, int]] = [(big, "sha256", 0), (model, "sha256", 1 << 40), (big, "blake3", 0)]
    for path, algorithm, pipeline_min in cases:
        with pytest.raises(RuntimeError, match="stop"):
            _hash_tree(path, algorithm=algorithm, progress=progress, pipeline_min=pipeline_min, workers=2)
    assert threading.active_count() == before


def test_a_file_cut_short_while_hashed_is_a_read_error(tmp_path: Path) -> None:
    big = write(tmp_path / "m" / "w.bin", bytes(3 * SHARD))

    def cut(n: int) -> None:
        os.truncate(big, SHARD)

    with pytest.raises(DocumentError) as caught:
        _hash_tree(big.parent, method="shards", shard_size=3 * SHARD, buffer_size=1024, workers=1, progress=cut)
    assert (caught.value.rule, caught.value.source) == ("read", str(big))


@pytest.mark.parametrize(
    ("option", "value"),
    [("algorithm", "md5"), ("method", "tensors"), ("shard_size", 0), ("shard_size", True), ("workers", 0)],
)
def test_bad_options_are_value_errors(model: Path, option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=option.replace("_", ".")):
        hash_tree(model, **{option: value})


def test_an_empty_model_has_no_items(tmp_path: Path) -> None:
    manifest = hash_tree(tmp_path)
    assert manifest.items == ()
    assert manifest.root_digest() == hashlib.sha256().hexdigest()


# --- Serialization and Manifest parsing ----------------------------------------------------------------------


def test_serialization_round_trips_and_keeps_model_signing_key_order() -> None:
    files = {"method": "files", "hash_type": "blake3", "allow_symlinks": True, "ignore_paths": ["z", ".git"]}
    assert Serialization.from_json(files).to_json() == files
    assert list(Serialization.from_json(files).to_json()) == list(files)
    shards = {"method": "shards", "hash_type": "sha256", "shard_size": 1_000_000_000, "allow_symlinks": False}
    parsed = Serialization.from_json(shards)
    assert parsed.to_json() == shards
    assert list(parsed.to_json()) == list(shards)
    assert parsed.ignore_paths == ()
    assert Serialization.from_json({**shards, "shard_size": 1e9}).shard_size == 1_000_000_000


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"method": "files", "hash_type": "sha256"},
        {"method": "tensors", "hash_type": "sha256", "allow_symlinks": False},
        {"method": "files", "hash_type": "blake2b", "allow_symlinks": False},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": "false"},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "shard_size": 10},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "chunk_size": 10},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": ".git"},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": [1]},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": ["../x"]},
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": ["/x"]},
        {"method": "shards", "hash_type": "sha256", "allow_symlinks": False},
        {"method": "shards", "hash_type": "sha256", "allow_symlinks": False, "shard_size": 0},
        {"method": "shards", "hash_type": "sha256", "allow_symlinks": False, "shard_size": 1.5},
        {"method": "shards", "hash_type": "sha256", "allow_symlinks": False, "shard_size": True},
        {"method": "shards", "hash_type": "sha256", "allow_symlinks": False, "shard_size": "1000"},
        {"method": "shards", "hash_type": "blake3", "allow_symlinks": False, "shard_size": 1000},
    ],
)
def test_malformed_or_unknown_serializations_are_bundle_errors(bad: Any) -> None:
    with pytest.raises(BundleError):
        Serialization.from_json(bad)


def predicate(resources: list[Any], method: Method = "shards") -> dict[str, Any]:
    shards = {"method": "shards", "hash_type": "sha256", "shard_size": 10, "allow_symlinks": False}
    files = {"method": "files", "hash_type": "sha256", "allow_symlinks": False}
    return {"serialization": shards if method == "shards" else files, "resources": resources}


DIGEST = "ab" * 32


def resource(name: str, algorithm: str = "sha256-sharded-10", digest: str = DIGEST) -> dict[str, str]:
    return {"name": name, "algorithm": algorithm, "digest": digest}


def test_from_predicate_reads_names_with_colons_and_ignores_other_members() -> None:
    found = Manifest.from_predicate(
        "m", {**predicate([resource("a:b.bin:0:10"), resource("a:b.bin:10:15", digest="AB" * 32)]), "extra": 1}
    )
    assert found.items == (("a:b.bin:0:10", DIGEST), ("a:b.bin:10:15", DIGEST))
    assert found.diff(found) == ([], [], [])
    single = Manifest.from_predicate("m", predicate([resource(".:0:10"), resource(".:10:12")]))
    assert single._by_file().keys() == {"."}


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"serialization": predicate([])["serialization"]},
        predicate([resource("a:0:10", algorithm="sha256")]),
        predicate([resource("a:0:10", digest="ab" * 31)]),
        predicate([resource("a:0:10", digest="zz" * 32)]),
        predicate([resource("a:0:10"), resource("a:0:10")]),
        predicate([{**resource("a:0:10"), "size": 10}]),
        predicate([resource("a")]),
        predicate([resource("a:0:11")]),
        predicate([resource("a:5:10")]),
        predicate([resource("a:10:10")]),
        predicate([resource("a:00:10")]),
        predicate([resource("a:-0:10")]),
        predicate([resource("../a:0:10")]),
        predicate([resource("/a:0:10")]),
        predicate([resource("a//b:0:10")]),
        predicate([resource(".:0:10"), resource("b:0:10")]),
        predicate([resource("a/./b", algorithm="sha256")], method="files"),
        predicate([resource("", algorithm="sha256")], method="files"),
        predicate([resource(".", algorithm="sha256"), resource("b", algorithm="sha256")], method="files"),
        predicate([[]], method="files"),
    ],
)
def test_malformed_predicates_are_bundle_errors(bad: Any) -> None:
    with pytest.raises(BundleError):
        Manifest.from_predicate("m", bad)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
SERIALIZATION = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["files", "shards"]) | JSON,
        "hash_type": st.sampled_from(["sha256", "blake3"]) | JSON,
        "allow_symlinks": st.booleans() | JSON,
    },
    optional={"shard_size": st.integers(-1, 10) | JSON, "ignore_paths": st.lists(st.text(max_size=5)) | JSON},
)
RESOURCE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["a", "a:0:10", ".", "a/b:10:12", "../x:0:1"]) | st.text(max_size=8) | JSON,
        "algorithm": st.sampled_from(["sha256", "sha256-sharded-10", "blake3"]) | JSON,
        "digest": st.sampled_from([DIGEST, DIGEST.upper(), "ab"]) | JSON,
    }
)


@given(value=JSON | SERIALIZATION)
def test_serialization_parsing_raises_only_bundle_errors_and_round_trips(value: Any) -> None:
    try:
        parsed = Serialization.from_json(value)
    except BundleError:
        return
    assert Serialization.from_json(parsed.to_json()) == parsed


@given(value=JSON | st.fixed_dictionaries({"serialization": SERIALIZATION, "resources": st.lists(RESOURCE) | JSON}))
def test_predicate_parsing_raises_only_bundle_errors_and_round_trips(value: Any) -> None:
    try:
        parsed = Manifest.from_predicate("m", value)
    except BundleError:
        return
    again = Manifest.from_predicate(
        "m", {"serialization": parsed.serialization.to_json(), "resources": parsed.resources()}
    )
    assert again == parsed
    assert again.diff(parsed) == ([], [], [])


def test_check_root_raises_digest_mismatch(model: Path) -> None:
    manifest = hash_tree(model)
    manifest.check_root(manifest.root_digest().upper())
    for wrong in ("0" * 64, "None", ""):
        with pytest.raises(DigestMismatchError, match="subject"):
            manifest.check_root(wrong)


def test_direct_construction_checks_consistency() -> None:
    with pytest.raises(ValueError, match="shard_size"):
        Serialization("shards", "sha256", False, (), None)
    with pytest.raises(ValueError, match="files method"):
        Serialization("files", "sha256", False, (), 10)
    assert Serialization("files", "sha256", False, DEFAULT_IGNORE, None).resource_algorithm == "sha256"
