"""Prompt templates: Jinja2 in its sandbox (suites are untrusted input), compiled once per
distinct template text, and strict about undefined variables so a typo fails validation.

The sandbox stops a template from reaching Python's internals, not from using up the machine:
`{{ 'a' * 10**10 }}`, `{{ 9 ** 9 ** 9 }}` or nested loops hang `validate` or end it with a
MemoryError. So rendering is bounded too (issue 16): operators and width arguments that could
build a huge value are checked before they run, loops over `range` share one iteration budget,
the output is cut off at a size, and in the main thread a CPU-time timer ends anything else.
A template over a limit raises `TemplateLimit` (a jinja2 SecurityError), which validation turns
into `file:line key: unsafe template: ...` and exit 2.
"""

from __future__ import annotations

import math
import re
import signal
import threading
from functools import lru_cache
from typing import Any, Iterable

from jinja2.exceptions import SecurityError

#: Characters one rendered template may produce (a prompt of a million characters is already
#: past every Seed model's context window).
MAX_OUTPUT_CHARS = 2_000_000
#: Iterations of `range` loops in one rendering, all loops together.
MAX_LOOP_STEPS = 1_000_000
#: Bits of an integer an operator may produce (`**`): big enough for any real arithmetic.
MAX_INT_BITS = 4096
#: The largest width a padding or formatting call may ask for.
MAX_WIDTH = 100_000
#: CPU seconds one rendering may take (main thread only: the timer is a signal).
MAX_CPU_S = 2.0


class TemplateLimit(SecurityError):
    """A template would use more memory or time than any prompt needs."""


def _size(v: Any) -> int | None:
    return len(v) if isinstance(v, (str, bytes, list, tuple)) else None


@lru_cache(maxsize=1)
def _env():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from jinja2.compiler import CodeGenerator

    class BoundedCodeGenerator(CodeGenerator):
        # `~` compiles to a plain str_join that no sandbox hook sees; doubling a namespace value
        # in a loop (`{% set ns.s = ns.s ~ ns.s %}`) would otherwise reach gigabytes.
        def visit_Concat(self, node, frame):
            self.write("environment.checked_concat(")
            super().visit_Concat(node, frame)
            self.write(")")

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**", "+", "%"})
        code_generator_class = BoundedCodeGenerator

        @staticmethod
        def checked_concat(value):
            if len(value) > MAX_OUTPUT_CHARS:
                raise TemplateLimit(f"joining values with ~ is over the {MAX_OUTPUT_CHARS:,}-character limit of a prompt")
            return value

        def call_binop(self, context, operator, left, right):
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    size = _size(seq)
                    if size is not None and isinstance(n, int) and size * n > MAX_OUTPUT_CHARS:
                        raise TemplateLimit(f"repeating a value of {size:,} items {n:,} times is over the "
                                            f"{MAX_OUTPUT_CHARS:,}-character limit of a prompt")
            elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                if right * math.log2(abs(left)) > MAX_INT_BITS:
                    raise TemplateLimit(f"{left} ** {right} is a number of more than {MAX_INT_BITS} bits")
            elif operator == "+":
                a, b = _size(left), _size(right)
                if a is not None and b is not None and a + b > MAX_OUTPUT_CHARS:
                    raise TemplateLimit(f"joining values is over the {MAX_OUTPUT_CHARS:,}-character limit of a prompt")
            elif operator == "%" and isinstance(left, str):
                _check_widths(left)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - jinja's own signature
            name = getattr(__obj, "__name__", "")
            if name in _WIDTH_METHODS:
                _check_width_args(name, args, kwargs)
            elif name == "format" and isinstance(getattr(__obj, "__self__", None), str):
                _check_widths(__obj.__self__)
            return super().call(__context, __obj, *args, **kwargs)

    env = Bounded(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    # Prompts are plain text, not HTML: no autoescape. keep_trailing_newline keeps prompts exact.
    for name in ("center", "indent", "wordwrap"):
        env.filters[name] = _width_checked(name, env.filters[name])
    env.filters["format"] = _format_checked(env.filters["format"])
    env.globals["range"] = _counted_range
    return env


_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_WIDTH_RE = re.compile(r"%[-+ #0]*(\d+|\*)?(?:\.(\d+))?|\{[^{}]*?:[^{}]*?(\d{6,})[^{}]*\}")


def _check_width_args(name: str, args: tuple, kwargs: dict) -> None:
    for v in (*args, *kwargs.values()):
        if isinstance(v, int) and v > MAX_WIDTH:
            raise TemplateLimit(f"{name}({v:,}) asks for a width over {MAX_WIDTH:,}")


def _check_widths(fmt: str) -> None:
    for m in _WIDTH_RE.finditer(fmt):
        for g in m.groups():
            if g == "*" or (g and g.isdigit() and int(g) > MAX_WIDTH):
                raise TemplateLimit(f"the format {m.group(0)!r} asks for a width over {MAX_WIDTH:,}")


def _width_checked(name, fn):
    def bounded(*args, **kwargs):
        _check_width_args(name, args[1:], kwargs)
        return fn(*args, **kwargs)

    return bounded


def _format_checked(fn):
    def bounded(value, *args, **kwargs):
        if isinstance(value, str):
            _check_widths(value)
        return fn(value, *args, **kwargs)

    return bounded


_budget = threading.local()


def _counted_range(*args: int):
    from jinja2.sandbox import safe_range

    for i in safe_range(*args):
        _budget.steps = getattr(_budget, "steps", 0) + 1
        if _budget.steps > MAX_LOOP_STEPS:
            raise TemplateLimit(f"loops over range() ran more than {MAX_LOOP_STEPS:,} steps")
        yield i


@lru_cache(maxsize=4096)
def compile_template(source: str):
    """A compiled template; raises jinja2.TemplateSyntaxError for bad syntax."""
    return _env().from_string(source)


def _on_cpu_timer(signum, frame):
    raise TemplateLimit(f"rendering took more than {MAX_CPU_S:g} s of CPU")


def render(source: str, variables: dict[str, Any]) -> str:
    """The template rendered with `variables`, within the limits above."""
    # Most prompts without markup are common (system prompts): skip Jinja entirely for them.
    if "{" not in source:
        return source
    template = compile_template(source)
    _budget.steps = 0
    # Only statements ({% %}) can loop; an expression alone is bounded by the operator checks.
    timed = "{%" in source and threading.current_thread() is threading.main_thread()
    if timed:
        previous = signal.signal(signal.SIGVTALRM, _on_cpu_timer)
        signal.setitimer(signal.ITIMER_VIRTUAL, MAX_CPU_S)
    try:
        out: list[str] = []
        size = 0
        for chunk in template.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateLimit(f"the rendered prompt is over {MAX_OUTPUT_CHARS:,} characters")
            out.append(chunk)
        return "".join(out)
    except (MemoryError, RecursionError) as e:
        raise TemplateLimit(f"rendering ran out of {'memory' if isinstance(e, MemoryError) else 'stack'}") from None
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)


def render_messages(messages: Iterable[Any], variables: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Render a suite's `messages` (pydantic Message objects or dicts) with one case's vars; with
    `variables` None, take the text as written (a tool-calling case's own messages). Content
    given as parts (suites.spec.Message) becomes OpenAI's parts: text rendered, a local image
    file as a data: URL (suites/images.py); a file that may not be sent raises CaseError."""
    from .errors import CaseError
    from .suites.images import data_url

    out: list[dict[str, Any]] = []
    for m in messages:
        role = m["role"] if isinstance(m, dict) else m.role
        content = m["content"] if isinstance(m, dict) else m.content
        if isinstance(content, str):
            out.append({"role": role, "content": content if variables is None else render(content, variables)})
            continue
        parts: list[dict[str, Any]] = []
        for p in content:
            if p.type == "text":
                parts.append({"type": "text", "text": p.text if variables is None else render(p.text, variables)})
                continue
            raw = p.image_url.url if variables is None else render(p.image_url.url, variables)
            try:
                url = data_url(raw, getattr(m, "suite_dir", None))
            except ValueError as e:
                raise CaseError(f"image {raw[:120]!r} in a {role} message: {e}") from None
            image: dict[str, Any] = {"url": url}
            if p.image_url.detail:
                image["detail"] = p.image_url.detail
            parts.append({"type": "image_url", "image_url": image})
        out.append({"role": role, "content": parts})
    return out


def content_images(content: Any) -> int:
    """How many image parts a rendered message's content holds."""
    return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url") \
        if isinstance(content, list) else 0


def content_words(content: Any) -> str:
    """A rendered message's text: its content, or its text parts joined (images left out)."""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content if isinstance(content, str) else ""


def user_text(messages: list[dict[str, Any]]) -> str:
    """What a router sees: the user-facing text of a rendered conversation (an image part is
    `[image]`)."""
    out = []
    for m in messages:
        if m["role"] != "user":
            continue
        images = content_images(m["content"])
        out.append(content_words(m["content"]) + (" [image]" * images if images else ""))
    return "\n".join(out)
