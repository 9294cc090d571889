"""The accuracy verdict rule, in one place for a measurement (accuracy.py), a schema-1 report read back
(results.py) and a qualification (qualify/verdict.py): the user's limits when given, else bands on the worst
sample's action cosine; limits per action dimension (robot units: given, or from a LeRobot checkpoint's
statistics) are judged on each dimension's worst error, and a verdict they decide names the dimension."""
from __future__ import annotations

from typing import Optional, Sequence

PASS_COSINE, WARN_COSINE = 0.99, 0.95   # NVIDIA's GR00T deployment checks actions at cosine >= 0.99
BANDS = (f"default bands on the worst sample's action cosine: >= {PASS_COSINE} PASS, {WARN_COSINE}-{PASS_COSINE} WARN, "
         f"below {WARN_COSINE} FAIL")
STD_FRACTION = 0.1   # the default per-dimension limit where a checkpoint has statistics: a tenth of each std


def over(dim_max: Sequence[float], limits: Sequence[float], keep: float = 1.0) -> list[int]:
    """The action dimensions whose worst |error| is above their limit (times `keep`)."""
    return [d for d, (e, lim) in enumerate(zip(dim_max, limits)) if e > lim * keep]


def _dims_text(dim_max: Sequence[float], limits: Sequence[float], bad: list[int]) -> str:
    shown = ", ".join(f"dimension {d} |error| {dim_max[d]:.3g} > {limits[d]:.3g}" for d in bad[:3])
    return shown + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")


def verdict(err, atol: Optional[float], min_cosine: Optional[float], dim_max: Sequence[float] = (),
            atol_per_dim: Sequence[float] = (), per_dim_source: str = "given") -> tuple[str, str]:
    """(PASS | WARN | FAIL, the rule that decided) for an action error (results.OutputError) and each action
    dimension's worst |error| (`dim_max`): the given limits when there are any, else the default bands; limits per
    dimension (`atol_per_dim`, from `per_dim_source`) join either, and a dimension over its limit FAILs, by name."""
    bad = over(dim_max, atol_per_dim) if atol_per_dim and dim_max else []
    per_dim = (f"max |error| per action dimension <= its limit ({per_dim_source})" if atol_per_dim else "")
    failed = f"; FAILED at {_dims_text(dim_max, atol_per_dim, bad)}" if bad else ""
    if atol is not None or min_cosine is not None or (atol_per_dim and per_dim_source == "given"):
        ok = (atol is None or err.max_abs <= atol) and (min_cosine is None or err.cosine_min >= min_cosine) and not bad
        limits = ", ".join(x for x in (f"max |error| <= {atol:g}" if atol is not None else "",
                                       f"min cosine >= {min_cosine:g}" if min_cosine is not None else "", per_dim) if x)
        return ("PASS" if ok else "FAIL"), f"limits: {limits}{failed}"
    c = err.cosine_min
    status = "PASS" if c >= PASS_COSINE else "WARN" if c >= WARN_COSINE else "FAIL"
    if per_dim:
        return ("FAIL" if bad else status), f"{BANDS}; {per_dim}{failed}"
    return status, BANDS


def passes(cosine: float, max_abs: float, atol: Optional[float], min_cosine: Optional[float],
           margin: float = 0.0, dim_max: Sequence[float] = (), atol_per_dim: Sequence[float] = ()) -> bool:
    """Do these errors pass: the given limits when there are any, else the PASS band, and every dimension within
    its limit; with `margin`, using at most (1 - margin) of each error budget (1 - cosine, |error|), as
    precision-debug's search selects."""
    keep = 1.0 - margin
    if atol_per_dim and dim_max and over(dim_max, atol_per_dim, keep):
        return False
    if atol is not None or min_cosine is not None:
        return (atol is None or max_abs <= atol * keep) and (min_cosine is None or 1 - cosine <= (1 - min_cosine) * keep)
    return 1 - cosine <= (1 - PASS_COSINE) * keep
