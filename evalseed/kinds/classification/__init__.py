"""`kind: classification`: one label per case, scored against the suite's labels.

The package holds the whole kind: `spec.py` (the suite and case models), `kind.py` (requests and
scoring), `details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with
`section.html.j2` (its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, Classification
from .spec import ClassificationCase, ClassificationSuite, normalise

__all__ = ["KIND", "Classification", "ClassificationCase", "ClassificationSuite", "normalise"]
