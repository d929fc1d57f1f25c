"""`kind: tool_calling`: a tool loop, scored against BFCL-style expected calls.

The package holds the whole kind: `spec.py` (the suite and case models), `kind.py` (requests and
scoring), `details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with
`section.html.j2` (its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, ToolCalling, case_results, case_tools
from .spec import ToolCallingCase, ToolCallingSuite

__all__ = ["KIND", "ToolCalling", "ToolCallingCase", "ToolCallingSuite", "case_results", "case_tools"]
