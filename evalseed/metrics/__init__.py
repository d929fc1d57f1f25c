"""The one definition of every figure evalseed shows about a run (docs/design.md, "Metrics").

The run summary (`evalseed runs RUN_ID --json` and the table after a run), the report, compare
and the router all compute through this package, so the same rows give the same numbers in every
view. `rules` says which rows count, `accuracy` defines accuracy and its interval, `scope` the
shared shapes of SQL aggregate, `measures` latency, time to first (answer) token and cost, and
`table` puts them together per (suite, model) with each kind's
own metrics (`Kind.metrics`, in `evalseed/kinds/<kind>/metrics.py`).
"""

from .accuracy import Accuracy, Counts, by_group
from .measures import measures
from .scope import Scope
from .table import SuiteMetrics, of_rows, suite_metrics

__all__ = ["Accuracy", "Counts", "Scope", "SuiteMetrics", "by_group", "measures", "of_rows", "suite_metrics"]
