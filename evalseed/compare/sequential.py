"""The sequential gate (`evalseed run --baseline X --gate --sequential`): send the candidate's
cases in a random order, interleaved across suites, and stop a suite as soon as its verdict is
settled, instead of paying for every case.

Statistic. For each case answered on both sides, d = candidate pass rate - base pass rate (over
its ok repeats, as `compare` pairs them), in [-1, 1]. Per suite, two test martingales built by
betting (Waudby-Smith and Ramdas, "Estimating means of bounded random variables by betting",
JRSS-B 86(1), 2024; the bets are their aGRAPA rule, clipped to half the allowed range):

- regression: K_down = prod(1 - lam_t * d_t), lam_t in [0, 1/2] chosen from the cases before t.
  Under "no change" every case's d has mean 0 (the null of the fixed gate's McNemar and
  sign-flip tests, whatever the repeat counts), so K_down is a nonnegative martingale and, by
  Ville's inequality, reaches 1/a with probability at most a however often it is looked at. A
  suite is a regression when K_down >= 2 S / alpha (S suites: Bonferroni; the other half of alpha
  stays with the fixed test of suites that run to the end) and its running mean difference is
  below -min_drop, as the fixed gate asks.
- ruled out: K_up = prod(1 + lam_t * (d_t + min_drop)), lam_t in [0, 1/(2 (1 - min_drop))]. Under
  "every case lost min_drop" it is a martingale; reaching 1/alpha rules a drop larger than
  min_drop out (wrongly at most alpha of the time): the suite is settled as no regression.

A suite whose cases run out unsettled is compared by the fixed gate. Any regression stops the
whole run; a settled suite gets no more cases. The order is random within each suite and the
suites are interleaved in proportion to their size, so each suite's cases arrive in a uniformly
random order of their own, which is all the per-suite martingales need.

Assumptions, stated plainly: the null is per case ("each case's expected difference is 0", resp.
"-min_drop"), as for the fixed tests; cases answered on one side only (errors, skips) are left out
of the statistic (the infrastructure verdict in `compare` looks at them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .load import ANSWERED

METHOD = ("betting test martingales (Waudby-Smith & Ramdas 2024, aGRAPA bets), "
          "Ville's inequality; Bonferroni over suites")


@dataclass
class _Bet:
    """One test martingale on increments x_t with E[x_t] <= 0 under its null: K = prod(1 + lam x_t)."""

    cap: float
    k: float = 1.0
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        var = (self.m2 / self.n) if self.n > 1 else 0.25
        # aGRAPA: the growth-rate-optimal fraction for a mean-`mean`, variance-`var` increment.
        lam = max(0.0, min(self.cap, self.mean / max(var + self.mean ** 2, 1e-9) if self.n else 0.0))
        self.k *= 1 + lam * x
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)


@dataclass
class SuiteMonitor:
    name: str
    base: dict[str, float]  # case id -> base pass rate over its ok repeats (cases the base answered)
    total: int  # cases of the suite in the plan
    min_drop: float
    down: _Bet = field(init=False)
    up: _Bet = field(init=False)
    sum_d: float = 0.0
    n: int = 0
    sent: int = 0
    state: str = "running"  # running | regression | no regression

    def __post_init__(self):
        self.down = _Bet(cap=0.5)
        self.up = _Bet(cap=0.5 / (1 - self.min_drop))

    def add(self, d: float) -> None:
        self.n += 1
        self.sum_d += d
        self.down.add(-d)
        self.up.add(d + self.min_drop)

    def record(self) -> dict:
        return {"state": self.state, "cases_sent": self.sent, "cases": self.total, "pairs": self.n,
                "mean_diff": self.sum_d / self.n if self.n else None,
                "e_regression": self.down.k, "e_ruled_out": self.up.k}


class SequentialGate:
    """Orders the candidate's jobs and watches its rows; `settled` tells the job feed to stop."""

    def __init__(self, base: dict[str, dict[str, float]], totals: dict[str, int], *, alpha: float = 0.05,
                 min_drop: float = 0.02, seed: int = 0):
        self.alpha = alpha
        self.min_drop = min_drop
        self.seed = seed
        self.suites = {s: SuiteMonitor(s, base.get(s, {}), totals[s], min_drop) for s in totals}
        self._rows: dict[tuple[str, str], list[dict]] = {}
        self._repeats: dict[str, int] = {}
        self.reason: str | None = None

    @property
    def settled(self) -> bool:
        return self.reason is not None

    def order(self, jobs: list) -> list:
        """Random within each suite (all repeats of a case together), suites interleaved by size:
        at every step the suite least far through its cases goes next."""
        rng = random.Random(self.seed)
        by_suite: dict[str, dict[str, list]] = {}
        for j in jobs:
            by_suite.setdefault(j.suite.name, {}).setdefault(j.case_id, []).append(j)
            self._repeats[j.suite.name] = max(self._repeats.get(j.suite.name, 0), j.repeat + 1)
        queues = {}
        for s, cases in by_suite.items():
            ids = sorted(cases)
            rng.shuffle(ids)
            queues[s] = [cases[c] for c in ids]
        out, done = [], {s: 0 for s in queues}
        while any(done[s] < len(q) for s, q in queues.items()):
            s = min((s for s in queues if done[s] < len(queues[s])), key=lambda s: (done[s] / len(queues[s]), s))
            out.append(queues[s][done[s]])
            done[s] += 1
        return out

    def feed(self, jobs: list):
        """Yield jobs in `order`, skipping suites already settled, stopping on a regression."""
        for group in self.order(jobs):
            if self.settled:
                return
            suite = self.suites[group[0].suite.name]
            if suite.state != "running":
                continue
            suite.sent += 1
            yield from group

    def add(self, row: dict) -> None:
        """A stored candidate row: once every repeat of its case is in, update the suite's bets."""
        s, cid = row["suite"], row["case_id"]
        mon = self.suites.get(s)
        if mon is None or mon.state != "running":
            return
        rows = self._rows.setdefault((s, cid), [])
        rows.append(row)
        if len(rows) < self._repeats.get(s, 1):
            return
        ok = [r for r in rows if r["status"] in ANSWERED]  # as compare's quality test: a filtered row failed
        if cid not in mon.base or not ok:
            return  # answered on one side only: not a quality observation
        d = sum(1.0 for r in ok if r["status"] == "ok" and r.get("passed") is True) / len(ok) - mon.base[cid]
        mon.add(d)
        bar_reg = 2 * len(self.suites) / self.alpha
        if mon.down.k >= bar_reg and mon.sum_d / mon.n < -self.min_drop:
            mon.state = "regression"
            self.reason = (f"suite {s} regressed: mean difference {100 * mon.sum_d / mon.n:+.1f} pts over {mon.n} "
                           f"cases, e-value {mon.down.k:.3g} >= {bar_reg:g}")
        elif mon.up.k >= 1 / self.alpha:
            mon.state = "no regression"
            if all(m.state == "no regression" for m in self.suites.values()):
                self.reason = (f"every suite ruled out a drop larger than {100 * self.min_drop:g} pts "
                               f"(e-values >= {1 / self.alpha:g})")

    def record(self) -> dict:
        """What the run stores in runs.config.sequential, for compare to read."""
        stopped = any(m.sent < m.total for m in self.suites.values())
        reason = self.reason
        if stopped and reason is None:  # some suites settled, the rest ran out of cases
            reason = "; ".join(f"suite {s}: {'ran all its cases' if m.state == 'running' else m.state}"
                               for s, m in self.suites.items())
        return {"method": METHOD, "alpha": self.alpha, "min_drop": self.min_drop, "seed": self.seed,
                "stopped_early": stopped, "reason": reason,
                "suites": {s: m.record() for s, m in self.suites.items()}}
