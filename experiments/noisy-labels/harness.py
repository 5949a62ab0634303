"""Trusted harness of the noisy-labels problem (experiments/README.md, "noisy-labels").

Runs on the worker, outside the sandbox. It loads scikit-learn's bundled handwritten digits
(1,797 8x8 images, 10 classes; no download), splits them with the keyed stream, corrupts the
training labels with class-conditional pair flips drawn from the keyed stream, and calls the
candidate's fit_predict in the sandbox with the features, the noisy labels and a small trusted
set (3 clean rows per class). The clean labels of the test rows never leave this process: every
metric is computed here from the labels the candidate returns.
"""
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import gaplab_harness as gh

CLASSES = 10
N_TRAIN = 1000  # rows with labels: TRUSTED_PER_CLASS * 10 clean, the rest noisy
N_DEV = 400  # scored test rows (the objective); the other 397 are the hidden held-out split
TRUSTED_PER_CLASS = 3
FLIP_RATE = (0.5, 0.8)  # each class's flip rate, drawn uniformly: most of its labels are wrong


def make_split():
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float64)
    order = gh.random("split").generator().permutation(len(y))
    train, dev, heldout = order[:N_TRAIN], order[N_TRAIN : N_TRAIN + N_DEV], order[N_TRAIN + N_DEV :]
    trusted = np.concatenate([train[y[train] == c][:TRUSTED_PER_CLASS] for c in range(CLASSES)])
    noisy = np.setdiff1d(train, trusted)
    gh.random("noisy-order").generator().shuffle(noisy)
    return x, y, noisy, trusted, dev, heldout


def corrupt(labels):
    """Class-conditional pair flips: class c becomes partner[c] with probability rate[c]. The
    partners follow one keyed cycle through the ten classes, so every class is some other's."""
    rng = gh.random("noise").generator()
    cycle = rng.permutation(CLASSES)
    partner = np.empty(CLASSES, dtype=np.int64)
    partner[cycle] = np.roll(cycle, -1)
    rate = rng.uniform(*FLIP_RATE, size=CLASSES)
    flip = rng.random(len(labels)) < rate[labels]
    noisy = labels.copy()
    noisy[flip] = partner[labels[flip]]
    return noisy


def ceiling(x, y, train, test):
    """The starting method's model trained on the clean labels of all training rows."""
    scaler = StandardScaler().fit(x[train])
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x[train]), y[train])
    return model.predict(scaler.transform(x[test]))


def main():
    x, y, noisy, trusted, dev, heldout = make_split()
    y_noisy = corrupt(y[noisy])
    test = np.concatenate([dev, heldout])
    shown = gh.random("test-order").generator().permutation(len(test))  # dev and held-out mixed
    x_test = x[test[shown]]

    pred = gh.run_candidate(
        "method.fit_predict",
        args=(x[noisy], y_noisy, x[trusted], y[trusted], x_test, gh.params(), gh.CANDIDATE_RNG),
    )
    try:
        pred = np.asarray(pred) if isinstance(pred, (list, np.ndarray)) else None
    except ValueError:  # a ragged list
        pred = None
    if pred is None or pred.shape != (len(test),) or not np.issubdtype(pred.dtype, np.number):
        got = "neither a list nor an array of numbers" if pred is None else f"shape {pred.shape} of {pred.dtype}"
        gh.fail_candidate(f"fit_predict must return {len(test)} class labels (one per X_test row), got {got}")
    if not np.all(np.isin(pred, np.arange(CLASSES))):
        gh.fail_candidate("fit_predict must return labels in 0..9")
    labels = np.empty(len(test), dtype=np.int64)
    labels[shown] = pred.astype(np.int64)
    correct = labels == y[test]
    train = np.concatenate([noisy, trusted])
    ceil = ceiling(x, y, train, test) == y[test]
    gh.report(
        accuracy=float(correct[:N_DEV].mean()),
        heldout_accuracy=float(correct[N_DEV:].mean()),
        ceiling_accuracy=float(ceil[:N_DEV].mean()),
        noisy_label_accuracy=float((y_noisy == y[noisy]).mean()),
        method_seconds=gh.last_call_seconds(),
    )


if __name__ == "__main__":
    main()
