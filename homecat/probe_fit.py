"""The probe's classifier: class-balanced, L2-regularised multinomial logistic regression on standardised
vectors, the same model as scikit-learn's ``StandardScaler`` + ``LogisticRegression(class_weight='balanced')``,
solved in preconditioned coordinates.

Hidden states have a few strong shared directions, so the problem is ill-conditioned and plain lbfgs needs
hundreds of iterations per fit (433 s for 10,000 segments x 13 layers x 5 folds on 2 cores). Here the weights
are written W = P U with P = V (C/4 Λ + 1)^(-1/2), where V Λ V^T is the eigendecomposition of the weighted
Gram matrix X^T S X of the standardised training vectors (S: the balanced sample weights; 1/4 bounds the
softmax curvature). That is a change of variables, not another model: the objective
C Σ_i s_i CE(x_i W + b, y_i) + ½ ||W||² and its minimum are the same, but in U it is close to isotropic and
lbfgs converges in tens of iterations. One Gram matrix, one ``eigh`` and one projection per fit replace them
(bench/bench_probe.py compares both solvers on the same folds). Each iteration reads the projected vectors
twice, so they are kept in float32 (half the memory traffic); the loss, gradient and solver stay in float64.
"""

from __future__ import annotations

import numpy as np


def fit_predict(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, c: float, max_iter: int, tol: float
) -> tuple[np.ndarray, bool]:
    """(predicted labels of ``X_test``, converged?) of the class-balanced logistic regression fit on the train part.

    Runs on one BLAS thread: the probe runs fits side by side (one per core), and a multi-threaded BLAS on a
    busy machine spends more time waiting for its threads than computing (seen: eigh 0.26 s on one thread,
    1.8 s on two).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _fit_predict(X_train, y_train, X_test, c, max_iter, tol)


def _fit_predict(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, c: float, max_iter: int, tol: float
) -> tuple[np.ndarray, bool]:
    from scipy.optimize import minimize

    classes, y_index = np.unique(y_train, return_inverse=True)
    n, k = len(y_train), len(classes)
    counts = np.bincount(y_index, minlength=k)
    weights = (n / (k * counts))[y_index]  # class_weight='balanced'
    mean = X_train.mean(0)
    scale = X_train.std(0)
    scale[scale == 0] = 1.0  # a constant dimension stays 0 after centring, as StandardScaler leaves it
    # the big products in float32 (memory-bound: half the bytes), the objective and the solver in float64
    X = ((X_train - mean) / scale).astype(np.float32)
    gram = ((X * weights[:, None].astype(np.float32)).T @ X).astype(np.float64)
    eigenvalues, V = np.linalg.eigh(gram)
    shrink = 1.0 / np.sqrt(c / 4 * np.clip(eigenvalues, 0, None) + 1.0)
    P = (V * shrink).astype(np.float32)
    Z = X @ P  # training vectors in the preconditioned coordinates
    penalty = shrink**2  # ½||W||² = ½ Σ_j penalty_j ||U_j||² (V is orthogonal)
    onehot = np.eye(k)[y_index]
    total = weights.sum()
    dim = Z.shape[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        U, b = theta[: dim * k].reshape(dim, k), theta[dim * k :]
        logits = (Z @ U.astype(np.float32)).astype(np.float64) + b
        logits -= logits.max(1, keepdims=True)
        log_norm = np.log(np.exp(logits).sum(1, keepdims=True))
        log_p = logits - log_norm
        loss = c * -(weights * (onehot * log_p).sum(1)).sum() + 0.5 * (penalty[:, None] * U**2).sum()
        residual = c * weights[:, None] * (np.exp(log_p) - onehot)
        grad_u = (Z.T @ residual.astype(np.float32)).astype(np.float64) + penalty[:, None] * U
        return loss / total, np.concatenate([grad_u.ravel(), residual.sum(0)]) / total

    # scikit-learn's lbfgs settings: gtol = tol on the loss divided by the summed sample weights
    result = minimize(
        objective,
        np.zeros(dim * k + k),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 64 * np.finfo(float).eps, "maxls": 50},
    )
    U, b = result.x[: dim * k].reshape(dim, k), result.x[dim * k :]
    scores = (((X_test - mean) / scale).astype(np.float32) @ P).astype(np.float64) @ U + b
    return classes[scores.argmax(1)], bool(result.success)
