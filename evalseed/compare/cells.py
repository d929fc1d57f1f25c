"""The figures of a Comparison as short text, shared by every output format."""

from __future__ import annotations

from .result import Comparison, Delta, Unit


def pts_text(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:+.1f}"


def pct_text(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"


def p_text(x: float | None) -> str:
    if x is None or x != x:
        return "-"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def delta_text(d: Delta) -> str:
    """Cost: change in percent of the base mean with its interval; time: change in ms."""
    if d.n == 0 or d.base is None or d.diff is None:
        return "-"
    if d.unit == "ms":
        return f"{d.diff.estimate:+.0f} ms [{d.diff.low:+.0f}, {d.diff.high:+.0f}]"
    if not d.base:
        return f"{d.diff.estimate:+.2g} $"
    k = 100 / d.base
    return f"{k * d.diff.estimate:+.1f}% [{k * d.diff.low:+.1f}, {k * d.diff.high:+.1f}]"


def acc_cell(u: Unit, side: str) -> str:
    iv = u.base_accuracy if side == "base" else u.cand_accuracy
    if iv.estimate != iv.estimate:
        return "-"
    return f"{100 * iv.estimate:.1f}% [{100 * iv.low:.1f}, {100 * iv.high:.1f}]"


def diff_cell(u: Unit) -> str:
    return f"{pts_text(u.diff.estimate)} [{pts_text(u.diff.low)}, {pts_text(u.diff.high)}]"


def unit_rows(cmp: Comparison) -> list[Unit]:
    return cmp.units + ([cmp.overall] if cmp.overall else [])


def models_text(u: Unit) -> str:
    return u.base_model if u.base_model == u.cand_model else f"{u.base_model} -> {u.cand_model}"


def verdict_word(u: Unit) -> str:
    if u.failed:
        return "REGRESSION"
    if u.infra_failed:
        return "INFRA FAILED"
    return "improved" if u.verdict == "improvement" else "ok"


def unanswered_cell(u: Unit) -> str:
    e = u.unanswered
    return f"{pct_text(e.get('base_rate'))} → {pct_text(e.get('cand_rate'))}" if e else "-"


def mdd_cell(u: Unit) -> str:
    mdd = (u.power or {}).get("mdd")
    if mdd is None:
        return "-"
    return f"{100 * mdd:.0f} pts" + ("" if u.power.get("can_fail") else " (cannot fail)")


def left_out_text(u: Unit) -> str | None:
    """Why cases are missing from the quality test, or None when every paired case is in it."""
    lo = {k: v for k, v in (u.left_out or {}).items() if v}
    if not lo:
        return None
    parts = [f"{v} {k.split('_')[1].replace('error', 'errors')} on the {'base' if k.startswith('base') else 'candidate'}"
             for k, v in lo.items()]
    return (f"{u.n_pairs - u.n_answered} of {u.n_pairs} cases left out of the quality test, unanswered "
            f"({', '.join(parts)}); accuracy counts errors as failures")
