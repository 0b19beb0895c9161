"""`aifabric verify` on a small model against the model-signing CLI's own verify, median wall time per run.

Makes a small model (a config and 2 MiB of weights) and an ECDSA P-256 key in a temp dir, signs the model once
with aifabric, then times each CLI verifying that same signature. Target from the signing issue: aifabric
under 0.5 s.

Run: `.venv/bin/python benchmarks/bench_signing_verify.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _timing import median_wall
from aifabric.signing import generate_key, write_private_key
from aifabric.signing.artifacts import sign_model
from aifabric.signing.keys import public_pem


def main() -> int:
    """Time both verifiers and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        model = root / "model"
        model.mkdir()
        (model / "config.json").write_text('{"layers": 12}')
        (model / "weights.bin").write_bytes(os.urandom(2 * 1024 * 1024))
        key = generate_key("ecdsa-p256")
        write_private_key(root / "key.pem", key, unencrypted=True)
        (root / "key.pub").write_bytes(public_pem(key.public_key()))
        (root / "model.sig").write_bytes(sign_model(model, key).dumps())
        ours = median_wall(
            [
                str(bin_dir / "aifabric"),
                "verify",
                str(model),
                "--key",
                str(root / "key.pub"),
                "--bundle",
                str(root / "model.sig"),
            ],
            args.runs,
        )
        theirs = median_wall(
            [
                str(bin_dir / "model_signing"),
                "verify",
                "key",
                "--signature",
                str(root / "model.sig"),
                "--public_key",
                str(root / "key.pub"),
                str(model),
            ],
            args.runs,
        )
    print(f"{'verify a small model (median of ' + str(args.runs) + ')':<44} {'wall':>8}")
    print(f"{'aifabric verify':<44} {ours:>7.3f}s  target < 0.5 s: {'met' if ours < 0.5 else 'MISSED'}")
    print(f"{'model_signing verify key':<44} {theirs:>7.3f}s")
    print(f"{'ratio (model-signing / aifabric)':<44} {theirs / ours:>7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
