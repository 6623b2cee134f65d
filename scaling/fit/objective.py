"""Hoffmann's fitting objective, batched, with its analytic gradient.

Chinchilla App. D.2, eq 3: minimize over (a, b, e, alpha, beta)
    sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),
the log of E + A/N^alpha + B/D^beta written as a log-sum-exp so that it is finite and
smooth for every parameter value. The same form with one covariate is the power law
L = E + (x_c/x)^alpha (c = alpha log x_c), and without e the pure power law log L = c - alpha log x.

The objective is the SUM of Huber losses (Besiroglu et al. 2024 found that a mean, with
L-BFGS's default tolerance, stopped the original fit early), divided by delta so that its
gradient is O(1) per point; the minimizer is unchanged.
"""

from __future__ import annotations

import numpy as np


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber loss of the residuals r: r^2/2 inside |r| <= delta, linear outside (Huber 1964)."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


class LSEObjective:
    """f(theta) = sum_i w_i h(LSE(c_j - alpha_j X_ij, [e]) - T_i), batched over rows of theta.

    theta rows are (c_1..c_q, [e], alpha_1..alpha_q). X (n, q) are log covariates (centred by
    the caller for conditioning). T is (n,) log losses shared by all rows or (R, n) with
    `data_index[row]` choosing a row of T (and of `weights`, (R, n) counts, for bootstraps).
    delta=None gives least squares (sum r^2/2, over LSQ_SCALE), otherwise the scaled Huber sum
    (sum h/delta). `scale` is the divisor: multiply f by it for the unscaled objective.
    """

    def __init__(self, X: np.ndarray, T: np.ndarray, *, irreducible: bool = True,
                 delta: float | None = 1e-3, weights: np.ndarray | None = None,
                 data_index: np.ndarray | None = None) -> None:
        self.X = np.asarray(X, dtype=float)
        self.q = self.X.shape[1]
        self.T = np.asarray(T, dtype=float)
        self.irreducible = irreducible
        self.delta = delta
        self.weights = None if weights is None else np.asarray(weights, dtype=float)
        self.data_index = data_index
        self.n_params = 2 * self.q + int(irreducible)
        self.scale = LSQ_SCALE if delta is None else delta
        self._x_min, self._x_max = self.X.min(axis=0), self.X.max(axis=0)
        self._x_range = self._x_max - self._x_min

    def _rows(self, arr: np.ndarray | None, idx: np.ndarray):
        if arr is None or arr.ndim == 1:
            return arr
        return arr[self.data_index[idx]]

    def predict_log(self, theta: np.ndarray) -> np.ndarray:
        """Log predictions (k, n) at parameter rows theta (k, P)."""
        return self._forward(np.atleast_2d(np.asarray(theta, dtype=float)))[0]

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """d log prediction / d theta, (n, P), at one parameter row theta (P,)."""
        th = np.asarray(theta, dtype=float)[None, :]
        _, exps, ee, inv = self._forward(th)
        q, off = self.q, self.q + int(self.irreducible)
        J = np.empty((self.X.shape[0], self.n_params))
        for j in range(q):
            w = exps[j][0] * (inv[0] if inv is not None else 1.0)
            J[:, j] = w
            J[:, off + j] = -w * self.X[:, j]
        if self.irreducible:
            J[:, q] = np.broadcast_to(ee[0] * inv[0], (self.X.shape[0],))
        return J

    def _forward(self, theta: np.ndarray):
        """(log prediction, [exp(term_j - m)], exp(e - m) (k, 1) or None, 1/sum) per row.

        The log-sum-exp is shifted by one number per row, m = the largest value any term
        takes on the data (exact, from the range of X), instead of per element: the exps stay
        finite whenever no term spans more than 700 in log space over the data (alpha at most
        MAX_EXPONENT over the log-range of the data); otherwise the per-element shift is used.
        """
        X = self.X
        q, off = self.q, self.q + int(self.irreducible)
        c, al = theta[:, :q], theta[:, off:off + q]
        if not self.irreducible and q == 1:
            u = np.multiply(al[:, 0, None], X[None, :, 0])
            np.subtract(c[:, 0, None], u, out=u)
            return u, [np.ones_like(u)], None, None
        spread = np.abs(al) * self._x_range
        top = c - np.minimum(al * self._x_min, al * self._x_max)  # max over points per term
        m = top.max(axis=1)
        if self.irreducible:
            m = np.maximum(m, theta[:, q])
        if not np.all(spread < 700.0):
            return self._forward_elementwise(theta)
        exps = []
        for j in range(q):
            u = np.multiply(al[:, j, None], X[None, :, j])
            np.subtract((c[:, j] - m)[:, None], u, out=u)
            np.exp(u, out=u)
            exps.append(u)
        s = exps[0].copy()
        for e in exps[1:]:
            s += e
        ee = None
        if self.irreducible:
            ee = np.exp(theta[:, q] - m)[:, None]
            s += ee
        lse = np.log(s)
        lse += m[:, None]
        np.reciprocal(s, out=s)
        return lse, exps, ee, s

    def _forward_elementwise(self, theta: np.ndarray):
        X = self.X
        q, off = self.q, self.q + int(self.irreducible)
        terms = [theta[:, j, None] - theta[:, off + j, None] * X[None, :, j] for j in range(q)]
        if self.irreducible:
            terms.append(np.broadcast_to(theta[:, q, None], terms[0].shape))
        M = terms[0].copy()
        for t in terms[1:]:
            np.maximum(M, t, out=M)
        exps = [np.exp(t - M) for t in terms]
        s = sum(exps[1:], exps[0].copy())
        lse = np.log(s) + M
        inv = 1.0 / s
        if self.irreducible:
            return lse, exps[:q], exps[q], inv
        return lse, exps, None, inv

    def __call__(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Objective (k,) and gradient (k, P) at rows theta (k, P) of batch indices idx (k,)."""
        theta = np.asarray(theta, dtype=float)
        k = theta.shape[0]
        f = np.empty(k)
        g = np.empty_like(theta)
        # blocks of rows small enough to stay in cache: 4x faster than one (4500, 240) pass
        step = max(1, _BLOCK_ELEMENTS // max(1, self.X.shape[0]))
        for s in range(0, k, step):
            f[s:s + step], g[s:s + step] = self._block(theta[s:s + step], idx[s:s + step])
        return f, g

    def _block(self, theta: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r, exps, ee, inv = self._forward(theta)
        r -= self._rows(self.T, idx)
        w = self._rows(self.weights, idx)
        if self.delta is None:
            with np.errstate(over="ignore", invalid="ignore"):  # inf flags a rejected step
                h = (0.5 / LSQ_SCALE) * r * r
            psi = r
            psi *= 1.0 / LSQ_SCALE
        else:
            # h/delta = m (|r| - m/2) / delta with m = min(|r|, delta): r^2/(2 delta) inside,
            # |r| - delta/2 outside, and no r*r to overflow
            a = np.abs(r)
            m = np.minimum(a, self.delta)
            a -= 0.5 * m
            a *= m
            h = a
            psi = r
            psi *= 1.0 / self.delta
            np.clip(psi, -1.0, 1.0, out=psi)
        if w is not None:
            h = h * w
            psi = psi * w
        f = h.sum(axis=1)
        if self.delta is not None:
            f *= 1.0 / self.delta
        q, off = self.q, self.q + int(self.irreducible)
        g = np.empty_like(theta)
        if inv is not None:
            psi *= inv  # d lse / d term_j = exp(term_j - m) / sum
        for j in range(q):
            pw = exps[j]
            pw *= psi
            g[:, j] = pw.sum(axis=1)
            g[:, off + j] = -(pw @ self.X[:, j])
        if self.irreducible:
            g[:, q] = (psi * ee).sum(axis=1) if ee.shape[1] != 1 else ee[:, 0] * psi.sum(axis=1)
        return f, g


# least squares is divided by this so that, like the Huber sum over delta, f = 1 means
# residuals of order 1e-3 (one scale for the optimizer's tolerances); the minimizer is unchanged
LSQ_SCALE = 1e-3
_BLOCK_ELEMENTS = 65_536  # rows x points per block (512 KiB of float64)
