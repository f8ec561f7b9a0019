"""The probe's classifier: scikit-learn's ``StandardScaler`` + ``LogisticRegression(C, class_weight='balanced')``,
for every number of classes, solved in preconditioned coordinates.

The objective is scikit-learn's (sklearn/linear_model/_logistic.py with lbfgs): on the standardised training
vectors x_i with balanced sample weights s_i = n / (k · n_class),

    C Σ_i s_i log-loss_i + ½ ||W||²      (intercept not penalised)

where for two classes W is one column and the log-loss is the binomial one of the second class's log-odds
(scikit-learn's binary model; a two-column softmax with the same ½||W||² would be scikit-learn at 2C), and for
k ≥ 3 classes W has k columns under the multinomial log-loss. scikit-learn divides the objective by C Σ s_i
and stops lbfgs when the largest gradient component is below ``tol``; so does this solver (the tolerance
scales with C: at C = 0.01 an unscaled objective stopped after one iteration).

Hidden states have a few strong shared directions, so the problem is ill-conditioned and plain lbfgs needs
hundreds of iterations per fit. Here the weights are written W = P U with P = V (C/4 Λ + 1)^(-1/2), where
V Λ V^T is the eigendecomposition of the weighted Gram matrix X^T S X of the standardised training vectors
(1/4 bounds the logistic curvature). That is a change of variables, not another model: the minimum is the
same, but in U it is close to isotropic and lbfgs converges in tens of iterations. The big products read the
vectors in float32 (memory-bound: half the bytes); the loss, gradient and solver stay in float64.

The Gram matrix and the standardisation of a training set that is a union of folds come from per-(fold,
class) moments computed once per layer (``FoldMoments``): the probe fits each layer on many unions of the
same folds (outer folds and the inner folds of layer selection), and one pass over the vectors replaces one
Gram matrix per fit. The moments are taken around the whole layer's mean and scale, so the float32 products
lose nothing to large offsets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_DTYPE = np.float32


@dataclass(frozen=True)
class Classifier:
    """A fitted probe: the training set's standardisation and the weights on standardised vectors."""

    classes: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (dim, 1): log-odds of classes[1] for two classes; (dim, k) multinomial otherwise
    intercept: np.ndarray
    converged: bool

    def decision(self, X: np.ndarray) -> np.ndarray:
        standardised = ((X - self.mean) / self.scale).astype(_DTYPE)
        return (standardised @ self.coef.astype(_DTYPE)).astype(np.float64) + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(self.classes) == 1:  # an inner training set that holds one label: it can only say that one
            return np.full(len(X), self.classes[0])
        scores = self.decision(X)
        if scores.shape[1] == 1:
            return self.classes[(scores[:, 0] > 0).astype(int)]
        return self.classes[scores.argmax(1)]


@dataclass(frozen=True)
class TrainStats:
    """What a fit needs of its training set besides the rows: their mean, scale and the standardised,
    class-balanced Gram matrix X^T S X."""

    mean: np.ndarray
    scale: np.ndarray
    gram: np.ndarray


class FoldMoments:
    """Per-(fold, class) counts, sums and cross-products of one layer's vectors, for ``TrainStats`` of any union
    of folds. Costs one Gram matrix's worth of arithmetic and folds x classes dim x dim float64 matrices."""

    def __init__(self, X: np.ndarray, y: np.ndarray, fold_of: np.ndarray) -> None:
        from threadpoolctl import threadpool_limits

        self.centre = X.mean(0, dtype=np.float64)
        spread = X.std(0, dtype=np.float64)
        spread[spread == 0] = 1.0
        self.spread = spread
        self.classes = np.unique(y)
        self.blocks: dict[tuple[int, int], tuple[int, np.ndarray, np.ndarray]] = {}
        with threadpool_limits(1):
            for f in np.unique(fold_of):
                for c, label in enumerate(self.classes):
                    rows = (fold_of == f) & (y == label)
                    if rows.any():
                        Xb = ((X[rows] - self.centre) / spread).astype(_DTYPE)
                        self.blocks[int(f), c] = (
                            int(rows.sum()),
                            Xb.sum(0, dtype=np.float64),
                            (Xb.T @ Xb).astype(np.float64),
                        )

    def train_stats(self, folds: Iterable[int]) -> TrainStats:
        """The stats of the training set made of ``folds`` (every segment of each)."""
        folds = set(folds)
        dim = len(self.centre)
        per_class = []
        for c in range(len(self.classes)):
            parts = [self.blocks[f, c] for f in folds if (f, c) in self.blocks]
            if parts:
                per_class.append(
                    (sum(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts))
                )  # fmt: skip
        n = sum(p[0] for p in per_class)
        m = sum(p[1] for p in per_class) / n  # the training mean, in the layer's standardised units
        second = sum(np.diag(p[2]) for p in per_class) / n
        scale = np.sqrt(np.clip(second - m**2, 0, None))
        constant = scale < 1e-6 * max(1.0, float(np.abs(m).max()))  # constant in this training set
        scale[constant] = 1.0
        gram = np.zeros((dim, dim))
        for count, total, cross in per_class:
            weight = n / (len(per_class) * count)  # class_weight='balanced' over the classes present
            gram += weight * (cross - np.outer(total, m) - np.outer(m, total) + count * np.outer(m, m))
        gram /= np.outer(scale, scale)
        gram[constant, :] = 0.0
        gram[:, constant] = 0.0
        return TrainStats(self.centre + m * self.spread, scale * self.spread, gram)


def fit(
    X_train: np.ndarray, y_train: np.ndarray, c: float, max_iter: int, tol: float, stats: TrainStats | None = None
) -> Classifier:
    """The class-balanced logistic regression fit on ``X_train`` (``stats``: its precomputed ``TrainStats``).

    Runs on one BLAS thread: the probe runs fits side by side (one per core), and a multi-threaded BLAS on a
    busy machine spends more time waiting for its threads than computing (seen: eigh 0.26 s on one thread,
    1.8 s on two).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fit(X_train, y_train, c, max_iter, tol, stats)


def fit_predict(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, c: float, max_iter: int, tol: float
) -> tuple[np.ndarray, bool]:
    """(predicted labels of ``X_test``, converged?) of ``fit`` on the train part."""
    model = fit(X_train, y_train, c, max_iter, tol)
    return model.predict(X_test), model.converged


def _fit(
    X_train: np.ndarray, y_train: np.ndarray, c: float, max_iter: int, tol: float, stats: TrainStats | None
) -> Classifier:
    from scipy.optimize import minimize

    classes, y_index = np.unique(y_train, return_inverse=True)
    n, k = len(y_train), len(classes)
    if k == 1:
        return Classifier(classes, np.zeros(X_train.shape[1]), np.ones(X_train.shape[1]),
                          np.zeros((X_train.shape[1], 1)), np.zeros(1), True)  # fmt: skip
    columns = 1 if k == 2 else k  # scikit-learn's binary model has one weight vector
    counts = np.bincount(y_index, minlength=k)
    weights = (n / (k * counts))[y_index]  # class_weight='balanced'
    if stats is None:
        mean = X_train.mean(0)
        scale = X_train.std(0)
        scale[scale == 0] = 1.0  # a constant dimension stays 0 after centring, as StandardScaler leaves it
        X = ((X_train - mean) / scale).astype(_DTYPE)
        gram = ((X * weights[:, None].astype(_DTYPE)).T @ X).astype(np.float64)
    else:
        mean, scale, gram = stats.mean, stats.scale, stats.gram
        X = ((X_train - mean) / scale).astype(_DTYPE)
    eigenvalues, V = np.linalg.eigh(gram)
    shrink = 1.0 / np.sqrt(c / 4 * np.clip(eigenvalues, 0, None) + 1.0)
    P = V * shrink  # W = P U
    onehot = np.eye(k)[y_index]
    norm = c * weights.sum()  # scikit-learn's scale of the objective: the tolerance then means what it means there
    dim = X.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        U, b = theta[: dim * columns].reshape(dim, columns), theta[dim * columns :]
        W = P @ U
        logits = (X @ W.astype(_DTYPE)).astype(np.float64) + b
        if columns == 1:
            logits = np.hstack([np.zeros((n, 1)), logits])  # log-odds against the first class
        logits -= logits.max(1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        loss = c * -(weights * (onehot * log_p).sum(1)).sum() + 0.5 * (W**2).sum()
        residual = (c * weights[:, None] * (np.exp(log_p) - onehot))[:, k - columns :]
        grad_w = (X.T @ residual.astype(_DTYPE)).astype(np.float64) + W
        grad_b = residual.sum(0)
        # scikit-learn's stopping rule looks at the gradient in W, not in the preconditioned U
        last["theta"], last["gradient"] = theta, max(np.abs(grad_w).max(), np.abs(grad_b).max()) / norm
        return loss / norm, np.concatenate([(P.T @ grad_w).ravel(), grad_b]) / norm

    last: dict = {}
    stopped = []

    def stop_when_flat(intermediate_result) -> None:
        if last.get("theta") is None or not np.array_equal(last["theta"], intermediate_result.x):
            objective(intermediate_result.x)
        if last["gradient"] <= tol:
            stopped.append(True)
            raise StopIteration

    result = minimize(
        objective,
        np.zeros(dim * columns + columns),
        jac=True,
        method="L-BFGS-B",
        callback=stop_when_flat,
        options={"maxiter": max_iter, "gtol": 0.0, "ftol": 64 * np.finfo(float).eps, "maxls": 50},
    )
    U, b = result.x[: dim * columns].reshape(dim, columns), result.x[dim * columns :]
    return Classifier(classes, mean, scale, P @ U, b, bool(stopped) or bool(result.success))
