"""Run-versus-run verdicts: is the candidate run (a new model version) really worse than the base?

Pairing. Rows of the two runs are paired by (suite, case_id, repeat) within a *unit*: one suite
and one (base model, candidate model) pair. Models are matched by name, then by family (the name
without its `-YYMMDD` version: `seed-1-6-260301` pairs with `seed-1-6-250915`), then, when each
run holds exactly one model, with each other. When either side ran a case more than once
(`repeats > 1`), the case's pass rate over its repeats is what gets paired, and each side's
within-model noise (how often the same model disagrees with itself) is reported.

How rows count. Each side's accuracy is evalseed.metrics' (an error row is a failure, a skipped
row is left out). The quality test, its difference and the flipped cases use the cases answered
(an `ok` row) on both sides, each case's pass rate over its ok repeats; the other cases are left
out of it and counted by why (`left_out`). Errors and skips are compared apart, as each case's
unanswered share of rows (`unanswered`): a significant rise above `max_error_rate` is the
*infrastructure* verdict (exit 3), not a regression, so a 429 storm does not fail a model. A
case skipped on *both* sides carries no information and is left out. Cases present in one run
only are left out and counted (`only_in_base`, `only_in_cand`); without `allow_partial` a
candidate lacking cases of the base, or a run that did not finish, is refused.

Statistics (evalseed.stats). Accuracy: Wilson interval (single runs) or a bootstrap over cases
(repeats). Difference: paired percentile bootstrap, 95%. Test: paired sign-flip permutation test
of the mean per-case difference (`stats.paired_permutation_test`: exact McNemar on single runs,
exact over the lattice of pass rates with repeats, valid when the two sides ran different repeat
counts, where a sign test is not), Holm-adjusted over the family {every unit, plus
"overall" when there is more than one unit}. Cost, latency and TTFT: paired bootstrap intervals
of the change in mean cost per case and in p50/p95 of per-case latency.

Gate. A unit (or overall) *regresses* when its accuracy drop is significant (Holm p < alpha)
AND the drop is larger than `min_drop` (in accuracy units: 0.02 = 2 points); the same for each
per-case score a kind records beyond pass/fail (field F1, `score`, schema-valid, tool-call
correctness...: paired bootstrap) and for macro-F1 (paired bootstrap over cases), in the same
Holm family. A content filter's refusal (status `filtered`) is an answer that failed, not an
unanswered case. A --sequential candidate's fixed tests run at alpha/2. It also fails below its floor (`gate.min_accuracy` in the suite), whatever the
test. With `max_cost_increase` (a ratio, 0.2 = +20%) it also fails when mean cost per case rose
by more than that and the rise is significant (its 95% interval lies above zero); the same for
`max_latency_increase` on p50 latency. The comparison fails when anything fails; a new suite (only
in the candidate) fails below its floor. Apart from these, the infrastructure verdict (above).
Each unit reports its minimum detectable drop and whether it can fail at all (`power_of`).

The modules, each importing only those above it in this list:

- `result`: the result tree (`Comparison`, `Unit`...) and its JSON shape;
- `load`: loading runs' rows, pairing models and cases, coverage, the suites' floors, how a
  case's rows count;
- `measure`: one unit's statistics and power; `verdict`: Holm and the gate;
- `runs`: `compare_runs`, two stored runs in, a `Comparison` out;
- `cells`, `terminal`, `markdown`, `junit`, `write`: the output formats;
- `command`: `evalseed compare` and `run --gate`;
- `plan`: `evalseed plan-gate`, the cases or repeats a suite needs (measure's power formula);
- `sequential`: the sequential gate's monitor (`run --gate --sequential`), on its own.
"""

from __future__ import annotations

from .command import check_baseline, compare_command, gate_after_run
from .junit import render_junit
from .load import Paired, Row, baseline_case_rates, family_of, match_models
from .markdown import render_markdown
from .measure import SECONDARY_RESAMPLES
from .result import SCHEMA, Comparison, Delta, Flip, Noise, Side, Unit
from .runs import compare_runs
from .terminal import print_table
from .verdict import verdicts
from .write import write_json, write_junit, write_markdown

__all__ = [
    "SCHEMA", "SECONDARY_RESAMPLES", "Comparison", "Delta", "Flip", "Noise", "Paired", "Row", "Side", "Unit",
    "baseline_case_rates", "check_baseline", "compare_command", "compare_runs", "family_of", "gate_after_run",
    "match_models", "print_table", "render_junit", "render_markdown", "verdicts", "write_json", "write_junit",
    "write_markdown",
]
