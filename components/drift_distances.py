"""The other two statistics of `drift.check`, chosen by params: Wasserstein-1 for numeric columns (instead of
KS) and Jensen-Shannon for categorical ones (instead of PSI). Like KS and PSI (components/drift_stats.py), each
is compared with a critical value for the two sample sizes, so two random halves of one sample do not fire
whatever their size, and a real shift does once the samples can show it.

Wasserstein-1, normalised by the reference's standard deviation s: W = integral |F_n(x) - G_m(x)| dx / s, the
average distance each value must move, in reference standard deviations (a mean shift of d s gives W = d).
Its critical value is analytic, not resampled (a resampling would need ~1/alpha draws for a Bonferroni-sized
alpha, 0.0025 for 20 columns: thousands of statistics per column). Under no drift,
sqrt(n m / (n + m)) * integral |F_n - G_m| dx tends to integral |B(F(x))| dx, B a Brownian bridge: the L1 norm
of a Gaussian process. Its mean is sqrt(2 / pi) * integral sqrt(F (1 - F)) dx (E|B(t)| = sqrt(2 t (1 - t) / pi)),
computed from the reference; and the largest variance of a linear functional in the L1 norm's dual ball is
sup over 1-Lipschitz h of Var h(X), which is Var X = s^2 (h(x) = x attains it). The Borell-TIS inequality then
bounds the tail: P(norm > mean + s t) <= exp(-t^2 / 2), so
    critical = sqrt((n + m) / (n m)) * (sqrt(2 / pi) * integral sqrt(F (1 - F)) dx / s + sqrt(2 ln(1 / alpha))).
A bound on the limit, so conservative for large samples; at 100 rows a side the limit is not reached yet and it
measured 4% false alarms at alpha 0.05 (`bench/drift.py --calibration 200`; tests/components/test_drift_methods.py).

Jensen-Shannon divergence (natural log, between 0 and ln 2) over the same bins as PSI, rare categories binned
into one. For small differences JS ~ (1/8) sum (p - q)^2 / p, and n m / (n + m) * sum (p - q)^2 / p is Pearson's
chi-square for two samples with k - 1 degrees of freedom (k bins), so the critical value is
chi2(1 - alpha, k - 1) * (1 / n + 1 / m) / 8: PSI's, divided by 8.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def wasserstein_statistic(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """Wasserstein-1 between the two samples (both sorted), in standard deviations of the reference: the area
    between the two empirical CDFs, from the same linear merge as KS."""
    import numpy as np

    spread = _spread(ref_sorted)
    n, m = len(ref_sorted), len(cur_sorted)
    values = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(values, kind="stable")
    gap = np.cumsum(np.where(order < n, 1.0 / n, -1.0 / m))  # F_n - G_m just after each merged value
    merged = values[order]
    return float(np.sum(np.abs(gap[:-1]) * np.diff(merged)) / spread)


def wasserstein_critical(alpha: float, ref_sorted: np.ndarray, m: int) -> float:
    """The normalised Wasserstein-1's critical value at level ``alpha`` for a reference of these values and a
    current sample of ``m`` rows (the Borell-TIS bound of the module docstring)."""
    import numpy as np

    n = len(ref_sorted)
    cdf = np.arange(1, n) / n  # F between consecutive reference values
    mean_norm = math.sqrt(2 / math.pi) * float(np.sum(np.sqrt(cdf * (1 - cdf)) * np.diff(ref_sorted)))
    scaled = mean_norm / _spread(ref_sorted) + math.sqrt(2 * math.log(1 / alpha))
    return math.sqrt((n + m) / (n * m)) * scaled


def _spread(ref_sorted: np.ndarray) -> float:
    """The reference's standard deviation; 1 for a constant column (any change of it is then in its units)."""
    import numpy as np

    spread = float(np.std(ref_sorted)) if len(ref_sorted) > 1 else 0.0
    return spread if spread > 0 else 1.0


def js_divergence(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence (nats) of two count vectors over the same bins; finite without smoothing, since
    the mixture is positive wherever either side is."""

    p, q = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    mix = (p + q) / 2
    return float((_kl(p, mix) + _kl(q, mix)) / 2)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    import numpy as np

    seen = p > 0
    return float(np.sum(p[seen] * np.log(p[seen] / q[seen])))


def js_critical(alpha: float, n: int, m: int, bins: int) -> float:
    """JS's critical value at level ``alpha`` under no drift, from its chi-square approximation."""
    from scipy.special import chdtri  # chi-square's inverse survival function; scipy.stats costs 1 s to import

    return float(chdtri(max(bins - 1, 1), alpha)) * (1 / n + 1 / m) / 8
