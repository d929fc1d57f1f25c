"""The one definition of every figure evalseed shows about a run (docs/design.md, "Metrics").

The run summary (`evalseed runs RUN_ID --json` and the table after a run), the report, compare
and the router all compute through this package, so the same rows give the same numbers in every
view. `rules` says which rows count, `accuracy` defines accuracy and its interval, `labels`
macro-F1, one module per task kind its other metrics, and `table` puts them together per
(suite, model).
"""

from .accuracy import Accuracy, Counts, by_group
from .labels import label_metrics
from .scope import Scope
from .table import KIND_METRICS, SuiteMetrics, of_rows, suite_metrics

__all__ = ["Accuracy", "Counts", "KIND_METRICS", "Scope", "SuiteMetrics", "by_group", "label_metrics", "of_rows",
           "suite_metrics"]
