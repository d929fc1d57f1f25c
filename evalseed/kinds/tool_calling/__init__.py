"""`kind: tool_calling`: a tool loop, scored against BFCL-style expected calls.

The package holds the whole kind: `kind.py` (the suite and case models, requests, scoring),
`details.py` (the typed `details` of its rows), `metrics.py`, `report.py` with `section.html.j2`
(its report section) and `synthetic.py` (its rows in the synthetic report data).
"""

from .kind import KIND, ToolCalling, ToolCallingCase, ToolCallingSuite, case_results, case_tools

__all__ = ["KIND", "ToolCalling", "ToolCallingCase", "ToolCallingSuite", "case_results", "case_tools"]
