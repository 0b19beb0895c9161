"""Foundation benchmark: validation, canonical JSON and CLI start-up, as ratios against peers in one run.

Inputs come from ../shared/data (bench/openlineage-runevent-6k.json and the OpenLineage schemas). Peers:
the `jsonschema` library's prebuilt validator and raw `jsonschema-rs` on the whole root schema (validation),
the `rfc8785` package (canonical JSON). Targets from the foundation issue are printed beside each ratio.

Run: `make bench` or `.venv/bin/python benchmarks/bench_foundation.py [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import orjson
import referencing
import rfc8785

import aifabric
from _timing import median_wall, rate
from aifabric.schemas import Registry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    """Measure, print the figures and the ratio table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds (noisier)")
    args = parser.parse_args()
    budget = 0.6 if args.quick else 3.0

    event = json.loads((DATA / "bench" / "openlineage-runevent-6k.json").read_bytes())
    folder = DATA / "openlineage"
    schemas = [json.loads(p.read_bytes()) for p in [folder / "OpenLineage.json", *sorted(folder.glob("facets/*.json"))]]
    root = schemas[0]

    registry = Registry.default().copy()
    for schema in schemas:
        registry.add(schema)
    aifabric.validate(event, registry=registry)

    ref_registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (s["$id"], referencing.Resource.from_contents(s)) for s in schemas
    )
    reference = jsonschema.Draft202012Validator(
        root, registry=ref_registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    raw = jsonschema_rs.validator_for(
        root, registry=jsonschema_rs.Registry([(s["$id"], s) for s in schemas]), validate_formats=True
    )
    assert reference.is_valid(event) and raw.is_valid(event)

    size = len(orjson.dumps(event))
    print(f"document: {size:,} bytes compact; Python {sys.version.split()[0]} on {sys.platform}")
    rows: list[tuple[str, str, float, str, bool]] = []

    ours = rate(lambda: aifabric.validate(event, registry=registry), budget)
    ref = rate(lambda: reference.is_valid(event), budget)
    rs = rate(lambda: raw.is_valid(event), budget)
    print(f"validate  aifabric {ours:>10,.0f}/s   jsonschema {ref:>8,.0f}/s   jsonschema-rs (root) {rs:>10,.0f}/s")
    rows.append(("validate vs jsonschema", "x", ours / ref, ">= 100x", ours / ref >= 100))
    rows.append(("validate vs jsonschema-rs root", "x", ours / rs, ">= 1.0x", ours / rs >= 1.0))

    assert aifabric.canonicalize(event) == rfc8785.dumps(event)
    ours_c = rate(lambda: aifabric.canonicalize(event), budget)
    ref_c = rate(lambda: rfc8785.dumps(event), budget)
    orj = rate(lambda: orjson.dumps(event, option=orjson.OPT_SORT_KEYS), budget)
    print(
        f"canonical aifabric {1e6 / ours_c:>8.1f} us   rfc8785 {1e6 / ref_c:>8.1f} us   "
        f"orjson sorted (not RFC 8785) {1e6 / orj:>6.1f} us"
    )
    rows.append(("canonicalize vs rfc8785", "x", ours_c / ref_c, ">= 20x", ours_c / ref_c >= 20))

    exe = str(Path(sys.executable).parent / "aifabric")
    runs = 5 if args.quick else 15
    for flag in ("--version", "--help"):
        median = median_wall([exe, flag], runs)
        rows.append((f"aifabric {flag} median wall", "s", median, "< 0.3 s", median < 0.3))

    print()
    print(f"{'measure':<34} {'figure':>10}  {'target':<9} verdict")
    for name, unit, value, target, ok in rows:
        figure = f"{value:,.2f}{unit}" if unit == "x" else f"{value:.3f} s"
        print(f"{name:<34} {figure:>10}  {target:<9} {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
