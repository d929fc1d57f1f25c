"""`evalseed init [DIR]`: a starter project. One small suite per kind, with comments (the same
suites docs/first-suite.md explains), an `evalseed.yaml` with providers and model sets, and a
GitHub workflow that keeps a baseline on main and gates pull requests with evalseed's Action.

Nothing is ever overwritten: if any file it would write exists, it writes none and says which."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError

ACTION_PLACEHOLDER = "OWNER/evalseed@main"

SUITES: dict[str, str] = {}

SUITES["classification"] = """\
# A classification suite: the model answers with one label, scored by exact match after
# normalisation (case, whitespace, quotes, trailing punctuation). Run it with
#   evalseed run suites/support-triage.yaml --models text
name: support-triage                 # unique across your suites; letters, digits, - and _
kind: classification
description: Route support messages to the team that handles them.
labels: [billing, shipping, technical, other]   # every case's `expected` must be one of these
params: {temperature: 0, max_tokens: 8}         # request parameters, sent as written
messages:                            # Jinja2 templates; {{ text }} comes from each case's vars
  - role: system
    content: >-
      Route the customer's message to one team. Answer with exactly one word: billing,
      shipping, technical or other.
  - role: user
    content: "{{ text }}"
cases:
  - id: double-charge                # unique in the suite; results and comparisons pair by it
    vars: {text: "I was charged twice for order 1182."}
    expected: billing
  - id: parcel-late
    vars: {text: "My parcel was due Monday and the tracking has not moved since."}
    expected: shipping
  - id: app-crash
    vars: {text: "The app closes as soon as I open my basket."}
    expected: technical
    tags: [mobile]                   # tags are stored with each result, for filtering later
  - id: compliment
    vars: {text: "Just wanted to say the new catalogue looks lovely."}
    expected: other
"""

SUITES["json_extraction"] = """\
# A JSON extraction suite: the model returns a JSON object, checked against the schema and scored
# field by field against `expected` (precision, recall and F1 over the fields; docs/scoring.md).
name: order-extraction
kind: json_extraction
description: Pull the order number, item count and delivery city out of customer e-mails.
# json_schema (default) asks models with structured output to follow the schema; json_object asks
# for any JSON; none sends no response_format at all.
response_format: json_schema
params: {temperature: 0, max_tokens: 200}
schema:
  type: object
  additionalProperties: false
  required: [order_number, items, city]
  properties:
    order_number: {type: string}
    items: {type: integer}
    city: {type: [string, "null"]}   # null when the e-mail gives no city
messages:
  - role: system
    content: |
      Extract the order from the e-mail as one JSON object following this JSON Schema:
      {{ schema_json }}
      Reply with the JSON object only.
  - role: user
    content: "{{ email }}"
cases:
  - id: two-mugs-leeds
    vars: {email: "Hi, order A-1043 (two mugs) should go to our Leeds office please."}
    expected: {order_number: A-1043, items: 2, city: Leeds}
  - id: no-city
    vars: {email: "Can you check on order B-77? I ordered 5 candles."}
    expected: {order_number: B-77, items: 5, city: null}
"""

SUITES["tool_calling"] = """\
# A tool-calling suite: the model sees OpenAI tool specs and must call the right function with
# the right arguments. Expected calls follow BFCL's rules: each argument lists its allowed
# values, "" marks it optional; `expected_calls: []` means the right answer is no call.
name: weather-tools
kind: tool_calling
description: Call the weather tool when it helps, and only then.
params: {temperature: 0, max_tokens: 256}
max_steps: 3                         # model turns per case (a tool result is sent back each time)
order: any                           # any | strict: whether parallel calls must come in order
messages:
  - role: system
    content: Use the tools when they help. When no tool fits, answer directly.
  - role: user
    content: "{{ request }}"
tools:
  - type: function
    function:
      name: get_weather
      description: Weather forecast for a city on a date.
      parameters:
        type: object
        properties:
          city: {type: string}
          date: {type: string, description: "YYYY-MM-DD"}
          unit: {type: string, enum: [celsius, fahrenheit]}
        required: [city, date]
tool_results:                        # the canned result each function returns to the model
  get_weather: {condition: sunny, high: 21, unit: celsius}
cases:
  - id: lisbon-friday
    vars: {request: "What's the weather in Lisbon on 2025-06-13?"}
    expected_calls:
      - get_weather: {city: [Lisbon, "Lisbon, Portugal"], date: ["2025-06-13"], unit: [celsius, ""]}
  - id: no-tool-fits
    vars: {request: "Write a two-line poem about rain."}
    expected_calls: []
"""

SUITES["long_context"] = """\
# A long-context suite: questions about a document, scored by whether the answer contains the
# expected text (any of the listed spellings) and by token F1. The document is inline here; with
# `document: handbook.md` it is a file beside the suite. For needle-in-a-haystack grids
# (`needle`, `question`, `expected`, `grid: {tokens: [...], depths: [...]}`) see docs/design.md.
name: handbook-questions
kind: long_context
description: Questions whose answers are stated once in the staff handbook.
params: {temperature: 0, max_tokens: 64}
document:
  text: |
    Staff handbook, section 4: leave.
    Every employee has 27 days of paid leave a year, plus public holidays.
    Up to 5 unused days may be carried over into the next year; the rest lapse on 31 March.
    Parental leave is 16 weeks at full pay, available to every parent.
    Requests for more than 10 consecutive days go to the head of department, not the line manager.
cases:
  - id: paid-leave-days
    question: How many days of paid leave does an employee have each year?
    expected: ["27 days", "27"]
  - id: carry-over
    question: How many unused leave days can be carried over?
    expected: ["5 days", "5", "five"]
  - id: long-request-approver
    question: Who approves a request for 12 consecutive days of leave?
    expected: head of department
"""

SUITES["image"] = """\
# An image suite: prompts for an image model (Seedream). Each image is checked for count,
# decodability, minimum size and blankness, and saved under runs/<run>/images/ for a person to
# look at; whether it shows the right thing is not scored automatically.
name: shop-banners
kind: image
description: Banner images for the shop's seasonal campaigns.
models: [seedream-4-5-251128]        # image suites run on image models; --models wins
params: {size: 2K, n: 1, watermark: false}
expect: {count: 1, min_width: 1440, min_height: 1440}
cases:
  - id: spring-sale
    prompt: >
      Flat illustration of ceramic vases with spring flowers on a pale green background, soft
      daylight, plenty of empty space on the right for text, no lettering.
  - id: winter-wide
    params: {size: 2560x1440}          # a case may override the suite's params and expect
    expect: {min_width: 2560, min_height: 1440}
    prompt: >
      Wide photograph of a snowy street of small shops at dusk, warm window light, shallow
      depth of field, no text.
"""

SUITES["generation"] = """\
# A generation suite: free text scored by checks (contains, regex, length, rouge-l, ...; the list
# is in docs/design.md). A case passes when every check passes, or, with `threshold`, when the
# checks' weighted mean score reaches it.
name: support-replies
kind: generation
description: Short, factual replies to customers.
params: {temperature: 0, max_tokens: 160}
messages:
  - role: system
    content: Reply to the customer in at most three sentences, using only the facts given.
  - role: user
    content: "Facts: {{ facts }}\\nCustomer: {{ message }}"
checks:                              # applied to every case
  - {type: not-contains, name: no-ai-disclaimer, value: ["As an AI", "language model"]}
  - {type: length, name: short, max: 500}
cases:
  - id: refund-date
    vars:
      facts: "Refund of 42.50 EUR issued on 3 March."
      message: "Where is my refund?"
    reference: "Your refund of 42.50 EUR was issued on 3 March."
    checks:                          # this case's checks, after the suite's
      - {type: contains, value: "42.50", weight: 2}
      - {type: icontains, value: march}
      - {type: rouge-l, threshold: 0.3}
  - id: opening-hours
    vars:
      facts: "The shop is open 9:00-18:00, Monday to Saturday."
      message: "Are you open on Sunday?"
    checks:
      - {type: regex, name: says-no, value: "(?i)\\\\b(no|closed)\\\\b"}
"""

#: file name under suites/ for each kind
SUITE_FILES = {
    "classification": "support-triage.yaml",
    "json_extraction": "order-extraction.yaml",
    "tool_calling": "weather-tools.yaml",
    "long_context": "handbook-questions.yaml",
    "image": "shop-banners.yaml",
    "generation": "support-replies.yaml",
}

CONFIG = """\
# evalseed.yaml: read from the working folder (or --config FILE). Every key is optional;
# docs/design.md lists them all. Keys never go in this file: only the names of the variables
# that hold them.
provider: aisa                       # the default provider: aisa (AISA_API_KEY) or ark (ARK_API_KEY)

providers:
  # Any OpenAI-compatible server, used with --provider mine:
  # mine:
  #   base_url: https://gateway.example/v1
  #   api_key_env: MINE_API_KEY
  #   prices: {seed-1-6-flash-250715: {input: 0.08, output: 0.32}}   # USD per million tokens
  ark:
    api_key_env: ARK_API_KEY

model_sets:
  # `--models current` in CI: the baseline on main and the candidate in a pull request both run
  # this set; to try a new version, change it in the pull request (e.g. seed-1-6-260301).
  current: [seed-1-6-250915]
  cheap: [seed-1-6-flash-250715]
  compare: [seed-1-6-250915, seed-1-6-flash-250715, seed-1-8-251228]

variants:
  # A model of its own: a base model with request parameters, stored and gated under this name.
  seed-1-8-fast: {model: seed-1-8-251228, params: {reasoning_effort: minimal}}
"""

WORKFLOW = """\
# evalseed in CI (docs/ci.md): on main, run the suites and keep the database as the baseline
# artifact; on a pull request, run them again, gate against the newest baseline (the job fails on
# a significant regression), and put the verdict in the job summary.
name: evalseed
on:
  push:
    branches: [main]
    paths: ["suites/**", "evalseed.yaml", ".github/workflows/evalseed.yml"]
  pull_request:
    paths: ["suites/**", "evalseed.yaml", ".github/workflows/evalseed.yml"]
  workflow_dispatch:

permissions:
  contents: read
  actions: read                      # to download the baseline artifact of another run

jobs:
  baseline:
    if: github.event_name != 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: {action}
        env:
          AISA_API_KEY: ${{{{ secrets.AISA_API_KEY }}}}
        with:
          suites: suites/
          models: current
          budget: "2"
          artifact-name: evalseed-baseline

  gate:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: Fetch the newest baseline
        shell: bash
        env:
          GH_TOKEN: ${{{{ github.token }}}}
        run: |
          run_id=$(gh run list --repo "$GITHUB_REPOSITORY" --workflow evalseed.yml --branch main \\
                     --status success --limit 1 --json databaseId --jq '.[0].databaseId')
          test -n "$run_id" || {{ echo "no successful evalseed run on main yet" >&2; exit 2; }}
          gh run download "$run_id" --repo "$GITHUB_REPOSITORY" --name evalseed-baseline --dir baseline
      - uses: actions/cache@v4
        with:
          path: cassettes/
          key: evalseed-cassettes-${{{{ hashFiles('suites/**', 'evalseed.yaml') }}}}
      - uses: {action}
        env:
          AISA_API_KEY: ${{{{ secrets.AISA_API_KEY }}}}
        with:
          suites: suites/
          models: current
          baseline: baseline/evalseed.duckdb
          budget: "2"
"""


def files(action: str = ACTION_PLACEHOLDER) -> dict[str, str]:
    """Relative path -> content of everything `init` writes."""
    out = {f"suites/{SUITE_FILES[k]}": text for k, text in SUITES.items()}
    out["evalseed.yaml"] = CONFIG
    out[".github/workflows/evalseed.yml"] = WORKFLOW.format(action=action)
    return out


def init_command(folder: str, action: str | None = None) -> int:
    from .files import write_atomic

    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a folder.")
    planned = files(action or ACTION_PLACEHOLDER)
    existing = [p for p in planned if (root / p).exists()]
    if existing:
        raise UsageError(f"{root / existing[0]} already exists"
                         + (f" (and {len(existing) - 1} more of the files init writes)" if len(existing) > 1 else "")
                         + ": nothing was written; run init in an empty folder or move them away.")
    for rel, text in planned.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text.encode("utf-8"))
    here = "" if root.resolve() == Path.cwd().resolve() else f"cd {folder} && "
    print(f"evalseed: wrote {len(planned)} files in {root}:")
    for rel in planned:
        print(f"  {rel}")
    print("\nNext steps:")
    print(f"  1. {here}evalseed validate suites/            # check the suites; nothing is sent")
    print("  2. export AISA_API_KEY=...                 # or ARK_API_KEY with --provider ark")
    print("     evalseed run suites/ --models current --budget-usd 2 && evalseed report")
    print("     (offline: pip install 'evalseed[local]' && evalseed local install, then --models local)")
    print("  3. edit the suites: docs/first-suite.md explains every key; one suite per task you care about")
    if not action:
        print(f"  4. in .github/workflows/evalseed.yml, replace {ACTION_PLACEHOLDER} with where evalseed's "
              "Action lives, and add the AISA_API_KEY secret")
    else:
        print("  4. add the AISA_API_KEY secret to the repository; the workflow gates pull requests")
    print("  5. pytest --evalseed suites/ --evalseed-record --evalseed-update-baseline   # suites as tests, then replayed")
    return 0
