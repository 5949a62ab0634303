"""Digits classification with scikit-learn: a command experiment for gaplab.

Protocol (see experiments/README.md): parameters come as JSON in $GAPLAB_PARAMS_FILE, the seed in
$GAPLAB_SEED; progress and metrics go to stdout as JSON lines, and the final metrics are also
written to $GAPLAB_METRICS_FILE. load_digits ships with scikit-learn: nothing is downloaded.
"""
import json
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

DEFAULTS = {"model": "svc", "C": 1.0, "gamma": 0.001, "hidden": 32, "alpha": 1e-4, "lr": 1e-3, "epochs": 30}


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    with open(os.environ["GAPLAB_PARAMS_FILE"]) as f:
        params = {**DEFAULTS, **json.load(f)}
    seed = int(os.environ.get("GAPLAB_SEED", "0"))
    if params["model"] not in ("svc", "mlp"):
        print(f"invalid param model: {params['model']!r} (use svc or mlp)", file=sys.stderr)
        return 2

    started = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    # A fixed test split (the hidden held-out metric); the seed redraws train/validation.
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    X_train, X_val, y_train, y_val = train_test_split(X_rest, y_rest, test_size=0.3, random_state=seed, stratify=y_rest)
    emit({"progress": 0.05, "message": f"data: {len(X_train)} train, {len(X_val)} val, {len(X_test)} test"})

    if params["model"] == "svc":
        scaler = StandardScaler().fit(X_train)
        clf = SVC(C=float(params["C"]), gamma=float(params["gamma"]), random_state=seed)
        clf.fit(scaler.transform(X_train), y_train)
        emit({"progress": 0.9, "message": "fitted"})
    else:
        scaler = StandardScaler().fit(X_train)
        Xs = scaler.transform(X_train)
        clf = MLPClassifier(
            hidden_layer_sizes=(int(params["hidden"]),),
            alpha=float(params["alpha"]),
            learning_rate_init=float(params["lr"]),
            random_state=seed,
        )
        epochs = int(params["epochs"])
        classes = np.unique(y)
        rng = np.random.default_rng(seed)
        for epoch in range(epochs):
            order = rng.permutation(len(Xs))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for start in range(0, len(order), 64):
                    idx = order[start:start + 64]
                    clf.partial_fit(Xs[idx], y_train[idx], classes=classes)
            # A learning curve: validation accuracy and training loss after every epoch.
            val = clf.score(scaler.transform(X_val), y_val)
            emit({"progress": 0.05 + 0.9 * (epoch + 1) / epochs, "message": f"epoch {epoch + 1}/{epochs}",
                  "step": epoch + 1, "metrics": {"val_accuracy": val, "train_loss": float(clf.loss_)}})

    metrics = {
        "val_accuracy": float(clf.score(scaler.transform(X_val), y_val)),
        "test_accuracy": float(clf.score(scaler.transform(X_test), y_test)),
        "train_accuracy": float(clf.score(scaler.transform(X_train), y_train)),
        "train_seconds": time.perf_counter() - started,
    }
    emit({"metrics": metrics})
    with open(os.environ["GAPLAB_METRICS_FILE"], "w") as f:
        json.dump(metrics, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
