"""Train a tiny scikit-learn classifier for MLServer; run by the MLServer peer's own Python, not aifabric's.

Usage: python mlserver_train.py FOLDER

Writes FOLDER/model.joblib (a random forest on a deterministic synthetic set of 4 features and 2 classes) and
prints, as JSON, its held-out accuracy and the held-out samples (features and label) for an evaluation set. A forest
of a few hundred trees, not a linear model, so that one prediction costs milliseconds: the endpoint's capacity is then
a rate that the load generator, sharing two cores with it, can exceed several times while keeping its schedule.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib  # type: ignore[import-not-found, unused-ignore]
from sklearn.datasets import make_classification  # type: ignore[import-not-found, unused-ignore]
from sklearn.ensemble import RandomForestClassifier  # type: ignore[import-not-found, unused-ignore]


def main() -> None:
    """Train, save and report."""
    folder = Path(sys.argv[1])
    x, y = make_classification(
        n_samples=400, n_features=4, n_informative=3, n_redundant=0, class_sep=2.0, random_state=7
    )
    model = RandomForestClassifier(n_estimators=300, max_depth=6, random_state=7).fit(x[:300], y[:300])
    joblib.dump(model, folder / "model.joblib")
    held_out = [([round(float(v), 6) for v in row], int(label)) for row, label in zip(x[300:], y[300:], strict=True)]
    accuracy = float(model.score(x[300:], y[300:]))
    sys.stdout.write(json.dumps({"accuracy": accuracy, "samples": held_out}) + "\n")


if __name__ == "__main__":
    main()
