"""The chat request parameters SEED_API.md documents, checked when a suite is loaded so a value
the API refuses is a `file:line params.KEY: ...` line at `validate` time, not one 400 row per case
that the gate then counts as a failure. Keys not listed here go through as written; the run and
`validate` name them (a gateway may take more than the Seed page documents)."""

from __future__ import annotations

from typing import Any

#: max_completion_tokens counts the chain of thought; 65,536 is the documented ceiling.
MAX_COMPLETION_TOKENS = 65_536
THINKING_TYPES = ("enabled", "disabled", "auto")
REASONING_EFFORTS = ("minimal", "low", "medium", "high")


def _whole(v: Any, lo: int, hi: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= lo and (hi is None or v <= hi)


def _number(v: Any, lo: float, hi: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi


def _check_thinking(v: Any) -> str | None:
    if isinstance(v, str):
        return f"give thinking as a mapping, e.g. thinking: {{type: {v if v in THINKING_TYPES else 'enabled'}}}"
    if not isinstance(v, dict) or set(v) != {"type"} or v.get("type") not in THINKING_TYPES:
        return f"give thinking: {{type: X}} with X one of {', '.join(THINKING_TYPES)}"
    return None


# key -> a check returning why the value is refused, or None.
DOCUMENTED: dict[str, Any] = {
    # No ceiling here: what a model takes is its own (ModelInfo limits skip a case at run time).
    "max_tokens": lambda v: None if _whole(v, 1) else "a whole number of tokens, at least 1",
    "max_completion_tokens": lambda v: None if _whole(v, 1, MAX_COMPLETION_TOKENS) else
        f"a whole number of tokens from 1 to {MAX_COMPLETION_TOKENS:,} (chain of thought included)",
    "thinking": _check_thinking,
    "reasoning_effort": lambda v: None if v in REASONING_EFFORTS else f"one of {', '.join(REASONING_EFFORTS)}",
    "temperature": lambda v: None if _number(v, 0, 2) else "a number from 0 to 2",
    "top_p": lambda v: None if _number(v, 0, 1) else "a number from 0 to 1",
    "frequency_penalty": lambda v: None if _number(v, -2, 2) else "a number from -2 to 2",
    "presence_penalty": lambda v: None if _number(v, -2, 2) else "a number from -2 to 2",
    "n": lambda v: None if _whole(v, 1, 16) else "a whole number of choices from 1 to 16",
    "seed": lambda v: None if _whole(v, 0) else "a whole number",
    "stream": lambda v: None if isinstance(v, bool) else "true or false",
    "stop": lambda v: None if isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)
                                                     and len(v) <= 4) else "a string or a list of up to 4 strings",
    "response_format": lambda v: None if isinstance(v, dict) and v.get("type") in ("text", "json_object", "json_schema")
        else "a mapping with type text, json_object or json_schema",
    "parallel_tool_calls": lambda v: None if isinstance(v, bool) else "true or false",
    "tool_choice": lambda v: None if v in ("auto", "none", "required") or isinstance(v, dict)
        else "auto, none, required or a mapping naming a function",
    "logprobs": lambda v: None if isinstance(v, bool) else "true or false",
    "top_logprobs": lambda v: None if _whole(v, 0, 20) else "a whole number from 0 to 20",
    "logit_bias": lambda v: None if isinstance(v, dict) else "a mapping of token id to bias",
    "user": lambda v: None if isinstance(v, str) else "a string",
}


def check_chat_params(params: dict[str, Any]) -> str | None:
    """The first problem as `KEY: ...` (the loader puts `params.` and the line in front), or None."""
    if "max_tokens" in params and "max_completion_tokens" in params:
        return ("max_completion_tokens: the API refuses max_tokens and max_completion_tokens together; keep "
                "one (max_completion_tokens counts the chain of thought)")
    for key, value in params.items():
        check = DOCUMENTED.get(key)
        problem = check(value) if check else None
        if problem:
            return f"{key}: {value!r} is refused by the API; {problem}"
    return None


def undocumented(params: dict[str, Any]) -> list[str]:
    return sorted(k for k in params if k not in DOCUMENTED)
