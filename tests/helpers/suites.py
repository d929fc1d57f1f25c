"""Suite files for tests: write one, the small three-case suite, and the numbered polarity suite
with a stub responder that gets chosen cases wrong."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Callable


def write_suite(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return p


SMALL_SUITE = """
name: tiny
kind: classification
labels: [positive, negative]
params: {temperature: 0, max_tokens: 4}
messages:
  - {role: system, content: "Answer positive or negative."}
  - {role: user, content: "{{ text }}"}
cases:
  - id: good
    vars: {text: "I love it"}
    expected: positive
  - id: bad
    vars: {text: "I hate it"}
    expected: negative
  - id: meh
    vars: {text: "It broke"}
    expected: negative
"""


def polarity_suite(n: int = 40, system: str | None = None) -> str:
    """A classification suite `polarity` of n cases `case-000`...: the text names the case's
    number and its label, alternately negative and positive (see polarity_responder)."""
    lines = ["name: polarity", "kind: classification", "labels: [positive, negative]",
             "params: {temperature: 0, max_tokens: 4}", "messages:"]
    if system is not None:
        lines.append(f'  - {{role: system, content: "{system}"}}')
    lines += ['  - {role: user, content: "{{ text }}"}', "cases:"]
    for i in range(n):
        label = "positive" if i % 2 else "negative"
        lines += [f"  - id: case-{i:03d}", f'    vars: {{text: "review number {i:03d} is {label}"}}',
                  f"    expected: {label}"]
    return "\n".join(lines) + "\n"


def polarity_responder(wrong: set[int], say: Callable[[str], str] = str):
    """A stub responder for polarity_suite: the right label, the other one for the case numbers in
    `wrong`, as `say(label)` puts it."""
    from evalseed.testing.stub_server import Reply, last_message_text

    def respond(body):
        m = re.search(r"review number (\d+) is (\w+)", last_message_text(body))
        assert m, last_message_text(body)
        i, label = int(m.group(1)), m.group(2)
        if i in wrong:
            label = "positive" if label == "negative" else "negative"
        return Reply(content=say(label))

    return respond
