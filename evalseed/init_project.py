"""`evalseed init [DIR]`: a starter project. One small suite per kind, with comments (each
kind's `starter.yaml`, the suites docs/first-suite.md explains), an `evalseed.yaml` with providers and model sets, and a
GitHub workflow that keeps a baseline on main and gates pull requests with evalseed's Action.

Nothing is ever overwritten: if any file it would write exists, it writes none and says which."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .kinds import KINDS, get_kind

ACTION_PLACEHOLDER = "OWNER/evalseed@main"

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

# The step that runs evalseed's action, the same in both jobs (each adds its own inputs below it).
ACTION_STEP = """\
      - uses: {action}
        env:
          AISA_API_KEY: ${{{{ secrets.AISA_API_KEY }}}}
        with:
          suites: suites/
          models: current"""

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
{action_step}
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
{action_step}
          baseline: baseline/evalseed.duckdb
          budget: "2"
"""


def files(action: str = ACTION_PLACEHOLDER) -> dict[str, str]:
    """Relative path -> content of everything `init` writes."""
    out = {f"suites/{kind.starter_file}": kind.starter() for kind in map(get_kind, KINDS)}
    out["evalseed.yaml"] = CONFIG
    out[".github/workflows/evalseed.yml"] = WORKFLOW.format(action_step=ACTION_STEP.format(action=action))
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
