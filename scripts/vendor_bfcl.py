"""Write the BFCL subset the tests read (tests/data/bfcl/) from an upstream copy of BFCL's data.

    python scripts/vendor_bfcl.py PATH/TO/gorilla/berkeley-function-call-leaderboard/bfcl_eval/data

Per category: the first N entries, plus the entries a test names (parallel_0, parallel_178 and the
four entries no output can pass). Lines are copied byte for byte, question and possible answer
together, so line i of a question file still lines up with line i of its answer file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "bfcl"
FIRST = {"simple_python": 60, "multiple": 60, "parallel": 60, "parallel_multiple": 50, "irrelevance": 60,
         "live_simple": 60, "live_multiple": 40}
NAMED = {"parallel_0", "parallel_178", "live_simple_106-63-0", "live_simple_112-68-0",
         "live_multiple_862-181-3", "live_multiple_964-207-0"}


def main(src: Path) -> None:
    (OUT / "possible_answer").mkdir(parents=True, exist_ok=True)
    for category, n in FIRST.items():
        name = f"BFCL_v4_{category}.json"
        questions = (src / name).read_bytes().splitlines(keepends=True)
        answer_file = src / "possible_answer" / name
        answers = answer_file.read_bytes().splitlines(keepends=True) if answer_file.exists() else None
        keep = [i for i, line in enumerate(questions) if i < n or json.loads(line)["id"] in NAMED]
        (OUT / name).write_bytes(b"".join(questions[i] for i in keep))
        if answers is not None:
            assert all(json.loads(answers[i])["id"] == json.loads(questions[i])["id"] for i in keep)
            (OUT / "possible_answer" / name).write_bytes(b"".join(answers[i] for i in keep))
        print(f"{name}: {len(keep)} of {len(questions)} entries")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
