"""`kind: generation`: free text scored by promptfoo-style checks.

The package holds the whole kind: `kind.py` (the suite and case models, requests, scoring),
`details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with `section.html.j2`
(its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, CHECK_TYPES, Check, Generation, GenerationCase, GenerationSuite, case_checks, run_check

__all__ = ["KIND", "CHECK_TYPES", "Check", "Generation", "GenerationCase", "GenerationSuite", "case_checks",
           "run_check"]
