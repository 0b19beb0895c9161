"""RFC 9162 Merkle trees: leaf and node hashes, tree hashes, inclusion and consistency proofs.

The functions work on leaf *hashes* (``leaf_hash(data)``); a log with a million entries keeps its full
subtrees and hands them in as a ``nodes(level, index)`` callable, so that a proof costs O(log n) look-ups.
Verification raises :class:`~aifabric.ProofError`; it never returns False [AUD-104] [AUD-105].

Examples:
    >>> from aifabric.audit.merkle import inclusion_proof, leaf_hash, root_hash, verify_inclusion
    >>> leaves = [leaf_hash(bytes([i])) for i in range(5)]
    >>> root = root_hash(leaves)
    >>> proof = inclusion_proof(leaves, 3)
    >>> verify_inclusion(leaves[3], 3, 5, proof, root)
    >>> len(proof)
    3
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256
from typing import Final

from aifabric._errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "NodeSource",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "range_hash",
    "root_hash",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT: Final = sha256(b"").digest()
"""The tree hash of the empty tree: SHA-256 of the empty string [AUD-102]."""

NodeSource = Callable[[int, int], bytes]
"""``nodes(level, index)``: the hash of the full subtree over leaves ``[index << level, (index + 1) << level)``."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data) [AUD-102]."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) [AUD-102]."""
    return sha256(b"\x01" + left + right).digest()


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """The RFC 9162 tree hash over leaf hashes, level by level (an odd last node moves up unchanged)."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        pairs = iter(level)
        level = [sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
        if odd is not None:
            level.append(odd)
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _source(leaves: Sequence[bytes] | NodeSource) -> NodeSource:
    if callable(leaves):
        return leaves
    memo: dict[tuple[int, int], bytes] = {}

    def nodes(level: int, index: int) -> bytes:
        if level == 0:
            return leaves[index]
        key = (level, index)
        if key not in memo:
            memo[key] = node_hash(nodes(level - 1, 2 * index), nodes(level - 1, 2 * index + 1))
        return memo[key]

    return nodes


def range_hash(nodes: NodeSource, start: int, end: int) -> bytes:
    """The tree hash of leaves ``[start, end)`` where ``start`` is a multiple of the subtree it begins."""
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0 and start % size == 0:
        level = size.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(size)
    return node_hash(range_hash(nodes, start, start + k), range_hash(nodes, start + k, end))


def _check_sizes(index: int, size: int, what: str) -> None:
    if not 0 <= index < size:
        raise ProofError(f"{what} {index} is outside a tree of size {size} [AUD-115]")


def inclusion_proof(leaves: Sequence[bytes] | NodeSource, index: int, size: int | None = None) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves (RFC 9162 §2.1.3.1) [AUD-104]."""
    if size is None:
        if callable(leaves):
            raise TypeError("size is required when leaves is a node source")
        size = len(leaves)
    _check_sizes(index, size, "leaf index")
    nodes = _source(leaves)
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(range_hash(nodes, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(leaves: Sequence[bytes] | NodeSource, old_size: int, new_size: int | None = None) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size`` (RFC 9162 §2.1.4.1).

    The proof between equal sizes, or from the empty tree, is empty [AUD-105].
    """
    if new_size is None:
        if callable(leaves):
            raise TypeError("new_size is required when leaves is a node source")
        new_size = len(leaves)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is not between 0 and the new size {new_size} [AUD-115]")
    if old_size in (0, new_size):
        return []
    nodes = _source(leaves)
    path: list[bytes] = []
    start, end, complete = 0, new_size, True
    m = old_size
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            path.append(range_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(range_hash(nodes, start, start + k))
            start += k
            m -= k
            complete = False
    if not complete:
        path.append(range_hash(nodes, start, end))
    path.reverse()
    return path


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an audit path (RFC 9162 §2.1.3.2); raises ProofError [AUD-104] [AUD-115]."""
    _check_sizes(index, size, "leaf index")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof for leaf {index} of {size} has {len(proof)} hashes: too many")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof for leaf {index} of {size} has {len(proof)} hashes: too few")
    if r != root:
        raise ProofError(f"inclusion proof for leaf {index} of {size} leads to another root hash")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree of ``old_size`` is a prefix of the tree of ``new_size`` (RFC 9162 §2.1.4.2) [AUD-105]."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"old size {old_size} is not between 0 and the new size {new_size} [AUD-115]")
    if old_size in (0, new_size):
        if proof:
            raise ProofError(f"a consistency proof from size {old_size} to {new_size} must be empty")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two trees of size {new_size} with different root hashes")
        return
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    if not path:
        raise ProofError(f"the consistency proof from size {old_size} to {new_size} is empty")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof from size {old_size} to {new_size} has too many hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof from size {old_size} to {new_size} has too few hashes")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the root hash of the tree of size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the root hash of the tree of size {new_size}")
