"""Prompt templates: Jinja2 in its sandbox (suites are untrusted input), compiled once per
distinct template text, and strict about undefined variables so a typo fails validation."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable


@lru_cache(maxsize=1)
def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    # Prompts are plain text, not HTML: no autoescape. keep_trailing_newline keeps prompts exact.
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@lru_cache(maxsize=4096)
def compile_template(source: str):
    """A compiled template; raises jinja2.TemplateSyntaxError for bad syntax."""
    return _env().from_string(source)


def render(source: str, variables: dict[str, Any]) -> str:
    # Most prompts without markup are common (system prompts): skip Jinja entirely for them.
    if "{" not in source:
        return source
    return compile_template(source).render(variables)


def render_messages(messages: Iterable[Any], variables: dict[str, Any]) -> list[dict[str, str]]:
    """Render a suite's `messages` (pydantic Message objects or dicts) with one case's vars."""
    out = []
    for m in messages:
        role = m["role"] if isinstance(m, dict) else m.role
        content = m["content"] if isinstance(m, dict) else m.content
        out.append({"role": role, "content": render(content, variables)})
    return out


def user_text(messages: list[dict[str, str]]) -> str:
    """What a router sees: the user-facing text of a rendered conversation."""
    return "\n".join(m["content"] for m in messages if m["role"] == "user")
