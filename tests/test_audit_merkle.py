"""aifabric.audit.merkle against RFC 9162 as written, published RFC 6962 vectors and sigstore-python's verifier.

The reference below is deliberately naive and shares nothing with the module under test: MTH, PATH and
PROOF/SUBPROOF are the recursive definitions of RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 over leaf *data*, and the
reference verifiers rebuild the root hashes by walking the same recursion (the way Go's tlog does), not with the
bit arithmetic of §2.1.3.2/§2.1.4.2 that the module uses. Go's tlog checks the same proofs in
tests/test_audit_checkpoint.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal.merkle import _chain_border_right, _chain_inner, _decomp_inclusion_proof, _hash_leaf

from aifabric import ProofError
from aifabric.audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------------------------------------------
# The reference: RFC 9162 §2.1 read literally.


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_leaf(data: bytes) -> bytes:
    return _sha256(b"\x00" + data)


def ref_node(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right)


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf data (RFC 9162 §2.1.1)."""
    n = len(d)
    if n == 0:
        return _sha256(b"")
    if n == 1:
        return ref_leaf(d[0])
    k = _k(n)
    return ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) (RFC 9162 §2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) for 0 < m < n; empty for m in (0, n), as the module documents."""
    return [] if m in (0, len(d)) else ref_subproof(m, d, True)


def _ref_path_root(leaf: bytes, m: int, n: int, path: Sequence[bytes]) -> bytes | None:
    """The root PATH(m, D[n]) leads to from the leaf hash, or None where its shape is wrong."""
    if n == 1:
        return None if path else leaf
    if not path:
        return None
    k = _k(n)
    if m < k:
        below = _ref_path_root(leaf, m, k, path[:-1])
        return None if below is None else ref_node(below, path[-1])
    below = _ref_path_root(leaf, m - k, n - k, path[:-1])
    return None if below is None else ref_node(path[-1], below)


def ref_inclusion_ok(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    return 0 <= index < size and _ref_path_root(leaf, index, size, proof) == root


def _ref_subproof_roots(m: int, n: int, b: bool, old_root: bytes, proof: Sequence[bytes]) -> tuple[bytes, bytes] | None:
    """The (old, new) subtree hashes SUBPROOF(m, D[n], b) leads to, or None where its shape is wrong."""
    if m == n:
        if b:
            return None if proof else (old_root, old_root)
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    k = _k(n)
    if m <= k:
        below = _ref_subproof_roots(m, k, b, old_root, proof[:-1])
        return None if below is None else (below[0], ref_node(below[1], proof[-1]))
    below = _ref_subproof_roots(m - k, n - k, False, old_root, proof[:-1])
    return None if below is None else (ref_node(proof[-1], below[0]), ref_node(proof[-1], below[1]))


def ref_consistency_ok(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:  # two trees of one size, the empty one included, are the same tree
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    return _ref_subproof_roots(old_size, new_size, True, old_root, proof) == (old_root, new_root)


def inclusion_ok(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """The module's verdict; anything but ProofError escapes and fails the test."""
    try:
        verify_inclusion(leaf, index, size, proof, root)
    except ProofError:
        return False
    return True


def consistency_ok(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    try:
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except ProofError:
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# Published vectors: the eight classic leaves of the Certificate Transparency test suites. Hash values from
# transparency-dev/merkle, proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472), the same data as
# google/certificate-transparency's merkle_tree_test.cc. Their inclusion indices are 1-based; ours are 0-based.

LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657")]
LEAVES.append(bytes.fromhex("606162636465666768696a6b6c6d6e6f"))

ROOTS = [  # MTH(D[1]) .. MTH(D[8])
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

INCLUSION = [  # (index, size, path)
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

HASHES = [leaf_hash(x) for x in LEAVES]


def test_empty_tree_and_hash_prefixes() -> None:
    """AUD-102: the empty tree hashes to SHA-256(""), leaves and nodes are domain-separated by 0x00 and 0x01."""
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_hash([]) == EMPTY_ROOT == ref_mth([])
    assert leaf_hash(b"") == ref_leaf(b"") == bytes.fromhex(ROOTS[0])
    assert node_hash(b"a" * 32, b"b" * 32) == _sha256(b"\x01" + b"a" * 32 + b"b" * 32)
    assert leaf_hash(b"\x01" + b"a" * 32 + b"b" * 32) != node_hash(b"a" * 32, b"b" * 32)


@pytest.mark.parametrize("size", range(1, 9))
def test_published_roots(size: int) -> None:
    """AUD-102: MTH of the first 1..8 classic leaves equals the published roots, in ours and in the reference."""
    assert root_hash(HASHES[:size]).hex() == ROOTS[size - 1]
    assert ref_mth(LEAVES[:size]).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    """AUD-104: audit paths equal the published ones and verify; the reference agrees."""
    proof = inclusion_proof(HASHES[:size], index)
    assert [h.hex() for h in proof] == path
    assert [h.hex() for h in ref_path(index, LEAVES[:size])] == path
    verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "path"), CONSISTENCY)
def test_published_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    """AUD-105: consistency proofs equal the published ones and verify; the reference agrees."""
    proof = consistency_proof(HASHES[:new], old)
    assert [h.hex() for h in proof] == path
    assert [h.hex() for h in ref_proof(old, LEAVES[:new])] == path
    verify_consistency(old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]), proof)


def test_rfc_9162_worked_example() -> None:
    """AUD-104, AUD-105: the seven-leaf tree of RFC 9162 §2.1.5, proofs named by the nodes the RFC draws."""
    names: dict[bytes, str] = {}
    hashes = [leaf_hash(bytes([i])) for i in range(7)]
    for name, h in zip("abcdef", hashes, strict=False):
        names[h] = name
    a, b, c, d, e, f, j = hashes
    g, h, i = node_hash(a, b), node_hash(c, d), node_hash(e, f)
    k, ell = node_hash(g, h), node_hash(i, j)
    names |= {g: "g", h: "h", i: "i", j: "j", k: "k", ell: "l"}
    assert root_hash(hashes) == node_hash(k, ell)

    def named(proof: list[bytes]) -> list[str]:
        return [names[x] for x in proof]

    assert named(inclusion_proof(hashes, 0)) == ["b", "h", "l"]
    assert named(inclusion_proof(hashes, 3)) == ["c", "g", "l"]
    assert named(inclusion_proof(hashes, 4)) == ["f", "j", "k"]
    assert named(inclusion_proof(hashes, 6)) == ["i", "k"]
    assert named(consistency_proof(hashes, 3)) == ["c", "d", "g", "l"]
    assert named(consistency_proof(hashes, 4)) == ["l"]
    assert named(consistency_proof(hashes, 6)) == ["i", "j", "k"]


def test_out_of_range_sizes_rejected() -> None:
    """AUD-115: a leaf index at or past the tree size, or an old size past the new one, is a ProofError."""
    root = bytes.fromhex(ROOTS[7])
    with pytest.raises(ProofError, match="AUD-115"):
        inclusion_proof(HASHES, 8)
    with pytest.raises(ProofError, match="AUD-115"):
        inclusion_proof(HASHES, -1)
    with pytest.raises(ProofError, match="AUD-115"):
        consistency_proof(HASHES, 9)
    with pytest.raises(ProofError, match="AUD-115"):
        consistency_proof(HASHES[:4], 5, 4)
    for index, size in [(8, 8), (9, 8), (0, 0), (-1, 8), (0, -1)]:
        with pytest.raises(ProofError, match="AUD-115"):
            verify_inclusion(HASHES[0], index, size, [], root)
    for old, new in [(9, 8), (2, 1), (1, 0), (-1, 8)]:
        with pytest.raises(ProofError, match="AUD-115"):
            verify_consistency(old, new, root, root, [])


def test_trivial_consistency() -> None:
    """AUD-105: from the empty tree and between equal sizes the proof is empty, and must be."""
    root = bytes.fromhex(ROOTS[7])
    assert consistency_proof(HASHES, 0) == consistency_proof(HASHES, 8) == []
    verify_consistency(0, 8, EMPTY_ROOT, root, [])
    verify_consistency(8, 8, root, root, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    with pytest.raises(ProofError):
        verify_consistency(8, 8, root, EMPTY_ROOT, [])
    for old in (0, 8):
        with pytest.raises(ProofError):
            verify_consistency(old, 8, root, root, [EMPTY_ROOT])


def test_node_source_needs_a_size() -> None:
    def nodes(level: int, index: int) -> bytes:
        raise AssertionError("not reached")

    with pytest.raises(TypeError):
        inclusion_proof(nodes, 0)
    with pytest.raises(TypeError):
        consistency_proof(nodes, 0)


# ---------------------------------------------------------------------------------------------------------------
# Properties. Leaves are distinct (a salt and the index), so a proof for one position is never one for another.


@st.composite
def logs(draw: st.DrawFn, min_size: int = 0, max_size: int = 300) -> list[bytes]:
    """Leaf data for a log of min_size..max_size distinct entries."""
    size = draw(st.integers(min_size, max_size))
    salt = draw(st.binary(max_size=8))
    return [salt + i.to_bytes(2, "big") for i in range(size)]


def flip(h: bytes, bit: int) -> bytes:
    bit %= 8 * len(h)
    return h[: bit // 8] + bytes([h[bit // 8] ^ (1 << (bit % 8))]) + h[bit // 8 + 1 :]


def single_mutations(proof: list[bytes], bits: list[int], extra: bytes) -> list[tuple[str, list[bytes]]]:
    """Every proof one edit away: a flipped bit in each hash, each hash dropped, one added anywhere, two swapped."""
    out: list[tuple[str, list[bytes]]] = []
    for j, h in enumerate(proof):
        out.append(
            (
                f"bit {bits[j % len(bits)]} of hash {j} flipped",
                [*proof[:j], flip(h, bits[j % len(bits)]), *proof[j + 1 :]],
            )
        )
        out.append((f"hash {j} dropped", proof[:j] + proof[j + 1 :]))
    for j in range(len(proof) + 1):
        out.append((f"a hash added at {j}", [*proof[:j], extra, *proof[j:]]))
        if j < len(proof):
            out.append((f"hash {j} repeated", [*proof[: j + 1], *proof[j:]]))
    for x in range(len(proof)):
        for y in range(x + 1, len(proof)):
            if proof[x] != proof[y]:
                swapped = list(proof)
                swapped[x], swapped[y] = swapped[y], swapped[x]
                out.append((f"hashes {x} and {y} swapped", swapped))
    return out


@given(data=logs())
def test_root_matches_reference(data: list[bytes]) -> None:
    """AUD-102: the tree hash of 0..300 random leaves equals MTH, and range_hash over the whole log equals it too."""
    hashes = [leaf_hash(x) for x in data]
    assert hashes == [ref_leaf(x) for x in data]
    root = ref_mth(data)
    assert root_hash(hashes) == root
    assert (
        range_hash(lambda level, index: root_hash(hashes[index << level : (index + 1) << level]), 0, len(data)) == root
    )


@given(data=logs(min_size=1), pick=st.data())
def test_inclusion_matches_reference(data: list[bytes], pick: st.DataObject) -> None:
    """AUD-104: audit paths equal PATH(m, D[n]) for every prefix size asked, and verify."""
    hashes = [leaf_hash(x) for x in data]
    size = pick.draw(st.integers(1, len(data)), label="size")
    index = pick.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(hashes, index, size)
    assert proof == ref_path(index, data[:size])
    root = ref_mth(data[:size])
    verify_inclusion(hashes[index], index, size, proof, root)
    assert ref_inclusion_ok(hashes[index], index, size, proof, root)


@given(data=logs(min_size=0), pick=st.data())
def test_consistency_matches_reference(data: list[bytes], pick: st.DataObject) -> None:
    """AUD-105: consistency proofs equal PROOF(m, D[n]) for every pair of sizes asked, and verify."""
    hashes = [leaf_hash(x) for x in data]
    new = pick.draw(st.integers(0, len(data)), label="new")
    old = pick.draw(st.integers(0, new), label="old")
    proof = consistency_proof(hashes, old, new)
    assert proof == ref_proof(old, data[:new])
    old_root, new_root = ref_mth(data[:old]), ref_mth(data[:new])
    verify_consistency(old, new, old_root, new_root, proof)
    assert ref_consistency_ok(old, new, old_root, new_root, proof)


@given(
    data=logs(min_size=1),
    pick=st.data(),
    bits=st.lists(st.integers(0, 255), min_size=1, max_size=4),
    extra=st.binary(min_size=32, max_size=32),
)
@settings(max_examples=100)
def test_every_single_mutation_of_an_inclusion_proof_fails(
    data: list[bytes], pick: st.DataObject, bits: list[int], extra: bytes
) -> None:
    """AUD-104, AUD-115: each one-edit change of a valid audit path, index, size, leaf or root raises ProofError.

    Changing only the size can leave a valid proof (leaf 0 of 3 and of 4 have paths of the same shape), so size
    changes are held to the reference verdict instead; every other edit must fail.
    """
    hashes = [leaf_hash(x) for x in data]
    n = len(hashes)
    index = pick.draw(st.integers(0, n - 1), label="index")
    proof = inclusion_proof(hashes, index)
    root = root_hash(hashes)
    verify_inclusion(hashes[index], index, n, proof, root)

    for what, mutant in single_mutations(proof, bits, extra):
        assert not inclusion_ok(hashes[index], index, n, mutant, root), what
    others = {index - 1, index + 1, index ^ 1, index ^ 2, 0, n - 1, n, n + 1, -1} - {index}
    for other in sorted(others):
        assert not inclusion_ok(hashes[index], other, n, proof, root), f"index {other}"
    for leaf in {hashes[(index + 1) % n], flip(hashes[index], bits[0]), data[index], root} - {hashes[index]}:
        assert not inclusion_ok(leaf, index, n, proof, root), "wrong leaf"
    for wrong_root in {flip(root, bits[0]), EMPTY_ROOT, hashes[index], root_hash(hashes[:-1]), extra} - {root}:
        assert not inclusion_ok(hashes[index], index, n, proof, wrong_root), "wrong root"
    for size in sorted({n - 1, n + 1, n * 2, n // 2, 2 * n - 1, n + (n & -n), 0, index, index + 1} - {n}):
        verdict = ref_inclusion_ok(hashes[index], index, size, proof, root)
        assert inclusion_ok(hashes[index], index, size, proof, root) == verdict, f"size {size}"


@given(
    data=logs(min_size=2),
    pick=st.data(),
    bits=st.lists(st.integers(0, 255), min_size=1, max_size=4),
    extra=st.binary(min_size=32, max_size=32),
)
@settings(max_examples=100)
def test_every_single_mutation_of_a_consistency_proof_fails(
    data: list[bytes], pick: st.DataObject, bits: list[int], extra: bytes
) -> None:
    """AUD-105, AUD-115: each one-edit change of a valid consistency proof, its sizes or its roots raises ProofError.

    As with inclusion, edits of a size alone are held to the reference verdict; hash edits must always fail.
    """
    hashes = [leaf_hash(x) for x in data]
    n = len(hashes)
    old = pick.draw(st.integers(1, n - 1), label="old")
    proof = consistency_proof(hashes, old)
    old_root, new_root = root_hash(hashes[:old]), root_hash(hashes)
    verify_consistency(old, n, old_root, new_root, proof)

    for what, mutant in single_mutations(proof, bits, extra):
        assert not consistency_ok(old, n, old_root, new_root, mutant), what
    assert not consistency_ok(old, n, old_root, new_root, []), "empty proof"
    for wrong in {flip(old_root, bits[0]), EMPTY_ROOT, new_root, root_hash(hashes[: old - 1]), extra} - {old_root}:
        assert not consistency_ok(old, n, wrong, new_root, proof), "wrong old root"
    for wrong in {flip(new_root, bits[0]), EMPTY_ROOT, old_root, root_hash(hashes[:-1]), extra} - {new_root}:
        assert not consistency_ok(old, n, old_root, wrong, proof), "wrong new root"
    assert not consistency_ok(old, n, new_root, old_root, proof), "roots swapped"
    assert not consistency_ok(n, old, old_root, new_root, proof), "sizes swapped"
    for size in sorted({old - 1, old + 1, old ^ 1, old ^ 2, old * 2, 0, n, n + 1, -1} - {old}):
        verdict = ref_consistency_ok(size, n, old_root, new_root, proof)
        assert consistency_ok(size, n, old_root, new_root, proof) == verdict, f"old size {size}"
        assert not verdict or size == old, f"old size {size} verified"
    for size in sorted({n - 1, n + 1, n * 2, n // 2, old, 0, -1} - {n}):
        verdict = ref_consistency_ok(old, size, old_root, new_root, proof)
        assert consistency_ok(old, size, old_root, new_root, proof) == verdict, f"new size {size}"


_hash_like = st.binary(min_size=32, max_size=32) | st.binary(max_size=40)


@given(
    leaf=_hash_like,
    index=st.integers() | st.integers(-2, 40),
    size=st.integers() | st.integers(-2, 40),
    proof=st.lists(_hash_like, max_size=10),
    root=_hash_like,
)
def test_inclusion_garbage_only_raises_proof_error(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    """AUD-104, AUD-115: arbitrary (leaf, index, size, proof, root) raise only ProofError, as the reference judges."""
    assert inclusion_ok(leaf, index, size, proof, root) == ref_inclusion_ok(leaf, index, size, proof, root)


@given(
    old=st.integers() | st.integers(-2, 40),
    new=st.integers() | st.integers(-2, 40),
    old_root=_hash_like,
    new_root=_hash_like,
    proof=st.lists(_hash_like, max_size=10),
)
def test_consistency_garbage_only_raises_proof_error(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    """AUD-105, AUD-115: arbitrary (sizes, roots, proof) raise only ProofError, as the reference judges."""
    assert consistency_ok(old, new, old_root, new_root, proof) == ref_consistency_ok(
        old, new, old_root, new_root, proof
    )


def counting_source(hashes: list[bytes], size: int, calls: list[tuple[int, int]]) -> Callable[[int, int], bytes]:
    """A node source that records each call and only knows full subtrees inside the first ``size`` leaves."""

    def nodes(level: int, index: int) -> bytes:
        calls.append((level, index))
        assert level >= 0 and index >= 0 and (index + 1) << level <= size, (level, index, size)
        return ref_mth_hashes(hashes[index << level : (index + 1) << level])

    return nodes


def ref_mth_hashes(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _k(len(hashes))
    return ref_node(ref_mth_hashes(hashes[:k]), ref_mth_hashes(hashes[k:]))


@given(data=logs(min_size=1), pick=st.data())
def test_node_source_gives_the_same_proofs(data: list[bytes], pick: st.DataObject) -> None:
    """AUD-104, AUD-105: a ``nodes(level, index)`` source gives the list form's proofs in O(log n) look-ups."""
    hashes = [leaf_hash(x) for x in data]
    size = pick.draw(st.integers(1, len(data)), label="size")
    index = pick.draw(st.integers(0, size - 1), label="index")
    old = pick.draw(st.integers(0, size), label="old")
    bound = 2 * size.bit_length() + 1

    calls: list[tuple[int, int]] = []
    assert inclusion_proof(counting_source(hashes, size, calls), index, size) == inclusion_proof(hashes, index, size)
    assert len(calls) <= bound, calls
    calls.clear()
    assert consistency_proof(counting_source(hashes, size, calls), old, size) == consistency_proof(hashes, old, size)
    assert len(calls) <= bound, calls
    calls.clear()
    assert range_hash(counting_source(hashes, size, calls), 0, size) == root_hash(hashes[:size])
    assert len(calls) <= size.bit_length()


# ---------------------------------------------------------------------------------------------------------------
# sigstore-python, a real RFC 9162 inclusion verifier (the one it runs on Rekor entries).


def sigstore_root(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    inner, border = _decomp_inclusion_proof(index, size)
    assert len(proof) == inner + border
    return _chain_border_right(_chain_inner(leaf, proof[:inner], index), proof[inner:])


@given(data=logs(min_size=1), pick=st.data())
def test_sigstore_python_verifies_our_inclusion_proofs(data: list[bytes], pick: st.DataObject) -> None:
    """AUD-104: sigstore-python's verifier chains our audit paths to our root hash, from its own leaf hash."""
    hashes = [leaf_hash(x) for x in data]
    index = pick.draw(st.integers(0, len(data) - 1), label="index")
    assert _hash_leaf(data[index]) == hashes[index]
    assert sigstore_root(hashes[index], index, len(data), inclusion_proof(hashes, index)) == root_hash(hashes)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_sigstore_python_on_published_vectors(index: int, size: int, path: list[str]) -> None:
    """AUD-104: sigstore-python agrees with the published vectors our proofs match."""
    proof = inclusion_proof(HASHES[:size], index)
    assert sigstore_root(HASHES[index], index, size, proof).hex() == ROOTS[size - 1]
