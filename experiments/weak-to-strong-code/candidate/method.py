"""Weak-to-strong student: the method you may rewrite.

train(features, weak_labels, unlabelled_features, params, rng) -> probabilities

- features: (n_train, d) float64, the strong student's representation of the training inputs
- weak_labels: (n_train,) float64 in [0, 1], the weak supervisor's probability that y = 1
- unlabelled_features: (n_eval, d) float64, inputs to predict (no labels anywhere)
- params: dict of the trial's parameters (lr, epochs, l2)
- rng: numpy.random.Generator for the method's own randomness; draw all randomness from it
- return: (n_eval,) probabilities that y = 1, one per row of unlabelled_features

This baseline trains a logistic regression on the weak labels to convergence: the student
imitates the weak supervisor, mistakes included.
"""
import numpy as np


def train(features, weak_labels, unlabelled_features, params, rng):
    lr = float(params.get("lr", 0.5))
    epochs = int(params.get("epochs", 2000))
    l2 = float(params.get("l2", 1e-5))
    n, d = features.shape
    w = np.zeros(d)
    b = 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(features @ w + b)))
        r = p - weak_labels
        w -= lr * (features.T @ r / n + l2 * w)
        b -= lr * r.mean()
    return 1.0 / (1.0 + np.exp(-(unlabelled_features @ w + b)))
