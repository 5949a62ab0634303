"""The starting method: k nearest neighbours (the candidate edits this file)."""
import numpy as np


def predict(x_train, y_train, x_test, params):
    k = int(params["k"])
    d = ((x_test[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(d, axis=1)[:, :k]
    return (y_train[nearest].mean(axis=1) > 0.5).astype(np.int64)
