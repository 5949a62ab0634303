"""Learning from noisy labels: the starting method.

Pools the noisy and the trusted rows and fits one logistic regression to their labels, as if
every label were right.
"""
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def fit_predict(X_noisy, y_noisy, X_trusted, y_trusted, X_test, options, rng):
    scaler = StandardScaler().fit(np.vstack([X_noisy, X_trusted]))
    X = scaler.transform(np.vstack([X_noisy, X_trusted]))
    y = np.concatenate([y_noisy, y_trusted])
    weight = np.concatenate(
        [np.ones(len(y_noisy)), np.full(len(y_trusted), float(options.get("trusted_weight", 1.0)))]
    )
    model = LogisticRegression(C=float(options.get("C", 1.0)), max_iter=1000)
    model.fit(X, y, sample_weight=weight)
    return model.predict(scaler.transform(X_test))
