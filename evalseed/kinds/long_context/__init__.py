"""`kind: long_context`: questions about long documents and needle grids.

The package holds the whole kind: `spec.py` (the suite and case models), `kind.py` (documents,
requests, scoring), `details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with
`section.html.j2` (its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, THINKING_RESERVE, LongContext, contains_answer, insert_needle, window_margin
from .spec import LongContextCase, LongContextSuite, NeedleCase, check_relative_path, grid_case_id

__all__ = ["KIND", "THINKING_RESERVE", "LongContext", "LongContextCase", "LongContextSuite", "NeedleCase",
           "check_relative_path", "contains_answer", "grid_case_id", "insert_needle", "window_margin"]
