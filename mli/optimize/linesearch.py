"""Line searches shared by the optimizers. Every trial point costs one distributed pass, so
they are written to need few evaluations and to return the best point they saw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["LineSearchResult", "wolfe_line_search"]


@dataclass
class LineSearchResult:
    """``alpha``/``f``/``payload`` of the accepted point (``alpha == 0``: no decrease found)."""

    alpha: float
    f: float
    payload: Any
    n_evals: int
    wolfe: bool  # strong Wolfe conditions hold (else: only sufficient decrease, or nothing)


def _cubic_min(a, fa, da, b, fb, db):
    """Minimizer of the cubic interpolating (a, fa, da), (b, fb, db), or None."""
    try:
        d1 = da + db - 3.0 * (fa - fb) / (a - b)
        rad = d1 * d1 - da * db
        if rad < 0:
            return None
        d2 = math.copysign(math.sqrt(rad), b - a)
        x = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2)
        return x if math.isfinite(x) else None
    except (ZeroDivisionError, OverflowError, ValueError):
        return None


def wolfe_line_search(phi: Callable[[float], tuple[float, float, Any]], f0: float, d0: float,
                      alpha1: float = 1.0, c1: float = 1e-4, c2: float = 0.9,
                      max_evals: int = 20, alpha_max: float = 1e10) -> LineSearchResult:
    """Strong-Wolfe line search (Nocedal & Wright, Algorithms 3.5 and 3.6).

    Parameters
    ----------
    phi : callable
        ``phi(alpha) -> (f, dphi, payload)``: value and directional derivative at step
        ``alpha`` (one distributed pass), plus anything the caller wants back.
    f0, d0 : float
        Value and directional derivative (< 0) at ``alpha = 0``.
    alpha1 : float
        First trial step.

    Returns
    -------
    LineSearchResult
        The first point satisfying the strong Wolfe conditions; when the evaluation budget
        runs out, the best point with sufficient decrease (``wolfe=False``); ``alpha=0``
        when none decreased the objective.
    """
    evals = 0
    best = LineSearchResult(0.0, f0, None, 0, False)

    def consider(alpha, f, payload):
        nonlocal best
        if f <= f0 + c1 * alpha * d0 and f < best.f:
            best = LineSearchResult(alpha, f, payload, 0, False)

    def done(res: LineSearchResult) -> LineSearchResult:
        res.n_evals = evals
        return res

    def zoom(lo, f_lo, d_lo, hi, f_hi, d_hi):
        nonlocal evals
        while evals < max_evals:
            width = hi - lo
            if abs(width) <= 1e-12 * max(abs(lo), abs(hi), 1e-300):
                break
            a = _cubic_min(lo, f_lo, d_lo, hi, f_hi, d_hi) if math.isfinite(f_hi) else None
            left, right = min(lo, hi), max(lo, hi)
            margin = 0.1 * (right - left)
            if a is None or not (left + margin <= a <= right - margin):
                a = 0.5 * (lo + hi)
            f, d, payload = phi(a)
            evals += 1
            if not math.isfinite(f):
                hi, f_hi, d_hi = a, math.inf, math.nan
                continue
            consider(a, f, payload)
            if f > f0 + c1 * a * d0 or f >= f_lo:
                hi, f_hi, d_hi = a, f, d
            else:
                if abs(d) <= -c2 * d0:
                    return LineSearchResult(a, f, payload, 0, True)
                if d * (hi - lo) >= 0:
                    hi, f_hi, d_hi = lo, f_lo, d_lo
                lo, f_lo, d_lo = a, f, d
        return None

    prev, f_prev, d_prev = 0.0, f0, d0
    alpha = alpha1
    while evals < max_evals:
        f, d, payload = phi(alpha)
        evals += 1
        if not math.isfinite(f):  # overflow: far too long a step
            res = zoom(prev, f_prev, d_prev, alpha, math.inf, math.nan)
            return done(res if res is not None else best)
        consider(alpha, f, payload)
        if f > f0 + c1 * alpha * d0 or (evals > 1 and f >= f_prev):
            res = zoom(prev, f_prev, d_prev, alpha, f, d)
            return done(res if res is not None else best)
        if abs(d) <= -c2 * d0:
            return done(LineSearchResult(alpha, f, payload, 0, True))
        if d >= 0:
            res = zoom(alpha, f, d, prev, f_prev, d_prev)
            return done(res if res is not None else best)
        if alpha >= alpha_max:
            break
        prev, f_prev, d_prev = alpha, f, d
        alpha = min(4.0 * alpha, alpha_max)
    return done(best)
