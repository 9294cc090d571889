"""The accuracy verdict rule, in one place for a measurement (accuracy.py), a schema-1 report read back
(results.py) and a qualification (qualify/verdict.py): the user's limits when given, else bands on the worst
sample's action cosine."""
from __future__ import annotations

from typing import Optional

PASS_COSINE, WARN_COSINE = 0.99, 0.95   # NVIDIA's GR00T deployment checks actions at cosine >= 0.99
BANDS = (f"default bands on the worst sample's action cosine: >= {PASS_COSINE} PASS, {WARN_COSINE}-{PASS_COSINE} WARN, "
         f"below {WARN_COSINE} FAIL")


def verdict(err, atol: Optional[float], min_cosine: Optional[float]) -> tuple[str, str]:
    """(PASS | WARN | FAIL, the rule that decided) for an action error (results.OutputError): the given limits
    when there are any, else the default bands."""
    if atol is not None or min_cosine is not None:
        ok = (atol is None or err.max_abs <= atol) and (min_cosine is None or err.cosine_min >= min_cosine)
        limits = ", ".join(x for x in (f"max |error| <= {atol:g}" if atol is not None else "",
                                       f"min cosine >= {min_cosine:g}" if min_cosine is not None else "") if x)
        return ("PASS" if ok else "FAIL"), f"limits: {limits}"
    c = err.cosine_min
    return ("PASS" if c >= PASS_COSINE else "WARN" if c >= WARN_COSINE else "FAIL"), BANDS


def passes(cosine: float, max_abs: float, atol: Optional[float], min_cosine: Optional[float],
           margin: float = 0.0) -> bool:
    """Do these errors pass: the given limits when there are any, else the PASS band; with `margin`, using at most
    (1 - margin) of each error budget (1 - cosine, |error|), as precision-debug's search selects."""
    keep = 1.0 - margin
    if atol is not None or min_cosine is not None:
        return (atol is None or max_abs <= atol * keep) and (min_cosine is None or 1 - cosine <= (1 - min_cosine) * keep)
    return 1 - cosine <= (1 - PASS_COSINE) * keep
