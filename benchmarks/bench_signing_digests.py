"""Model hashing benchmark: aifabric.signing.digests against hashlib on all cores, model-signing and blake3.

Makes, in a temporary folder removed at the end, a model of several files (8 x 256 MiB by default) and one file
of the same total size, flushes them to disk and reads them all once so they sit in the page cache, then times
every measure once per round, round after round (so a burst of load from elsewhere hits all of them alike), and
keeps each measure's best:

- the ceiling: hashlib SHA-256 on all cores, N threads each hashing a different 1/N of the same bytes held in
  memory (no reads at all), and one thread hashing all of them (the bound for a single file under ``files``);
- aifabric ``hash_tree`` (SHA-256 by files, BLAKE3) on the model and on the single file;
- model-signing 1.x's own hashing (``model_signing.hashing.Config().hash``, its default: SHA-256 by files);
- the blake3 library hashing the same files itself, multithreaded (``blake3(max_threads=AUTO).update_mmap``).

Digests are checked to agree with the peers' before anything is timed. Targets from the signing issue are
printed beside each ratio. One file's plain SHA-256 is sequential by nature, so for the single file under
``files`` the bound is one core's hashlib speed; the table prints it.

Run: ``.venv/bin/python benchmarks/bench_signing_digests.py [--size-mib 2048] [--files 8] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3
from model_signing import hashing as ms_hashing

from aifabric.signing.digests import hash_tree

MIB = 1 << 20
GIB = 1 << 30


def best_of(measures: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Shortest wall time of each measure over ``rounds`` rounds, each round running every measure once."""
    for fn in measures.values():
        fn()  # warm-up: imports, thread pools, the blake3 library's threads
    times: dict[str, float] = dict.fromkeys(measures, float("inf"))
    for _ in range(rounds):
        for name, fn in measures.items():
            start = time.perf_counter()
            fn()
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    """``count`` files of ``size`` random bytes each (8 MiB of randomness repeated with a counter)."""
    folder.mkdir(parents=True, exist_ok=True)
    block = bytearray(os.urandom(8 * MIB))
    paths = []
    for index in range(count):
        path = folder / f"model-{index + 1:05d}-of-{count:05d}.safetensors"
        with path.open("wb") as out:
            left, n = size, 0
            while left > 0:
                block[:8] = (index * 1_000_003 + n).to_bytes(8, "little")
                chunk = memoryview(block)[: min(left, len(block))]
                out.write(chunk)
                left -= len(chunk)
                n += 1
        paths.append(path)
    return paths


def warm(paths: list[Path]) -> bytearray:
    """Read every file (into the page cache) and return all their bytes, concatenated."""
    data = bytearray(sum(p.stat().st_size for p in paths))
    view, at = memoryview(data), 0
    for path in paths:
        with path.open("rb", buffering=0) as stream:
            while n := stream.readinto(view[at:]):
                at += n
    return data


def sha256_all_cores(data: bytearray, threads: int) -> None:
    """The ceiling: ``threads`` threads, each hashing a different 1/N of ``data`` in 16 MiB updates."""
    view = memoryview(data)

    def one(lo: int, hi: int) -> None:
        hasher = hashlib.sha256()
        for at in range(lo, hi, 16 * MIB):
            hasher.update(view[at : min(at + 16 * MIB, hi)])

    size = len(data)
    workers = [
        threading.Thread(target=one, args=(size * i // threads, size * (i + 1) // threads)) for i in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def sha256_one_core(data: bytearray) -> None:
    """One thread hashing all of ``data``: the bound for one file's plain SHA-256."""
    view = memoryview(data)
    hasher = hashlib.sha256()
    for at in range(0, len(data), 16 * MIB):
        hasher.update(view[at : at + 16 * MIB])


def blake3_library(paths: list[Path]) -> list[str]:
    """The blake3 library's own multithreaded, memory-mapped hash of each file, one file after another."""
    return [blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(p).hexdigest() for p in paths]


def model_signing(path: Path) -> Any:
    """model-signing's default hashing of ``path`` (SHA-256 by files, 1 MiB reads, a thread pool)."""
    return ms_hashing.Config().hash(path)  # type: ignore[no-untyped-call]


def model_signing_resources(path: Path) -> list[dict[str, str]]:
    """The ``resources`` list model-signing's signature of ``path`` would carry."""
    return [
        {"name": rd.identifier, "algorithm": rd.digest.algorithm, "digest": rd.digest.digest_hex}
        for rd in model_signing(path).resource_descriptors()
    ]


def main() -> int:
    """Build the model, check the digests agree, time everything and print the ratio table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048, help="total model size, MiB (default 2048)")
    parser.add_argument("--files", type=int, default=8, help="files in the multi-file model (default 8)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds; each measure's best counts")
    parser.add_argument("--dir", default=None, help="where to make the temporary folder (default: system temp)")
    args = parser.parse_args()
    size = args.size_mib * MIB
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    tmp = Path(tempfile.mkdtemp(prefix="aifabric-bench-digests-", dir=args.dir))
    try:
        model = tmp / "model"
        parts = make_files(model, args.files, size // args.files)
        single = make_files(tmp / "single", 1, size)[0]
        os.sync()  # write-back of the new files would otherwise compete with the first rounds
        data = warm(parts)
        warm([single])
        total = len(data)
        print(
            f"model: {args.files} x {total // args.files / MIB:,.0f} MiB; single file: {size / MIB:,.0f} MiB; "
            f"{cores} cores; Python {sys.version.split()[0]} on {sys.platform}; best of {args.rounds} rounds; "
            f"load average {os.getloadavg()[0]:.2f}"
        )

        # The digests agree with the peers' before anything is timed.
        for path in (model, single):
            assert hash_tree(path).resources() == model_signing_resources(path)
        assert [d for _, d in hash_tree(model, algorithm="blake3").items] == blake3_library(parts)
        assert [d for _, d in hash_tree(single, algorithm="blake3").items] == blake3_library([single])

        times = best_of(
            {
                "ceiling": lambda: sha256_all_cores(data, cores),
                "one_core": lambda: sha256_one_core(data),
                "ours_tree": lambda: hash_tree(model),
                "ms_tree": lambda: model_signing(model),
                "ours_file": lambda: hash_tree(single),
                "ms_file": lambda: model_signing(single),
                "shards_file": lambda: hash_tree(single, method="shards"),
                "b3_tree": lambda: hash_tree(model, algorithm="blake3"),
                "b3_lib_tree": lambda: blake3_library(parts),
                "b3_file": lambda: hash_tree(single, algorithm="blake3"),
                "b3_lib_file": lambda: blake3_library([single]),
            },
            args.rounds,
        )
        rate = {name: total / seconds / GIB for name, seconds in times.items()}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'throughput (GiB/s)':<58} {'GiB/s':>7}")
    for label, key in (
        (f"hashlib sha256, {cores} threads over the bytes in memory (ceiling)", "ceiling"),
        ("hashlib sha256, 1 thread over the bytes in memory", "one_core"),
        ("aifabric sha256 files, multi-file model", "ours_tree"),
        ("model-signing default (sha256 files), multi-file model", "ms_tree"),
        ("aifabric sha256 files, single file", "ours_file"),
        ("model-signing default (sha256 files), single file", "ms_file"),
        ("aifabric sha256 shards (1 GB), single file", "shards_file"),
        ("aifabric blake3, multi-file model", "b3_tree"),
        ("blake3 library, max_threads=AUTO + update_mmap, multi-file", "b3_lib_tree"),
        ("aifabric blake3, single file", "b3_file"),
        ("blake3 library, max_threads=AUTO + update_mmap, single file", "b3_lib_file"),
    ):
        print(f"{label:<58} {rate[key]:>7.2f}")

    rows = [
        ("sha256 files vs all-cores hashlib, multi-file", rate["ours_tree"] / rate["ceiling"], 0.9),
        ("sha256 files vs model-signing, multi-file", rate["ours_tree"] / rate["ms_tree"], 1.0),
        ("sha256 files vs model-signing, single file", rate["ours_file"] / rate["ms_file"], 1.5),
        ("blake3 vs blake3 library, multi-file", rate["b3_tree"] / rate["b3_lib_tree"], 0.8),
        ("blake3 vs blake3 library, single file", rate["b3_file"] / rate["b3_lib_file"], 0.8),
    ]
    print()
    print(f"{'ratio':<48} {'figure':>7}  {'target':<8} verdict")
    for name, ratio, target in rows:
        print(f"{name:<48} {ratio:>6.2f}x  >= {target:<5} {'met' if ratio >= target else 'MISSED'}")
    print(
        f"(one file's plain SHA-256 is sequential: 1-thread hashlib over bytes in memory is "
        f"{rate['one_core'] / rate['ms_file']:.2f}x model-signing on the single file, the most any reader can reach)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
