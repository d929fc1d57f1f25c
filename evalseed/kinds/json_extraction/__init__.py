"""`kind: json_extraction`: an object extracted from text, scored field by field.

The package holds the whole kind: `spec.py` (the suite and case models), `kind.py` (requests and
scoring), `details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with
`section.html.j2` (its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, JsonExtraction, response_format_body, usable_mode
from .spec import JsonExtractionCase, JsonExtractionSuite

__all__ = ["KIND", "JsonExtraction", "JsonExtractionCase", "JsonExtractionSuite", "response_format_body",
           "usable_mode"]
