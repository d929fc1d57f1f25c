"""`kind: generation`: free text scored by promptfoo-style checks.

The package holds the whole kind: `spec.py` (the suite and case models), `kind.py` (requests and
scoring), `details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with
`section.html.j2` (its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, Generation, run_check
from .spec import CHECK_TYPES, Check, GenerationCase, GenerationSuite, case_checks

__all__ = ["KIND", "CHECK_TYPES", "Check", "Generation", "GenerationCase", "GenerationSuite", "case_checks",
           "run_check"]
