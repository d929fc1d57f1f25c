#!/usr/bin/env bash
# Runs every benchmark once at a small size so none of them rots. CI calls this after the tests.
#
#   bash benchmarks/run_smoke.sh            # uses $PYTHON, else python3
#
# Fails (exit 1, with the benchmark's own output) when a benchmark crashes or exits non-zero;
# never on a timing: the benchmarks print missed targets, they do not fail on them.
# bench_peers.py is left out on purpose (it installs promptfoo and inspect_ai: minutes, network).
# A bench_*.py that this list does not name also fails the smoke run, so a new benchmark is
# either added here or deliberately listed in SKIP.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"

declare -A ARGS=(
  [bench_overhead.py]="--small"
  [bench_store.py]="--small"
  [bench_memory.py]="--small"
  [bench_report.py]="--small"
  [bench_replay.py]="--small"
  [bench_router.py]="--small"
  [bench_compare.py]="--suites 2 --cases 100"
  [bench_gate.py]="--small"
  [bench_long_context.py]="--small"
  [bench_local_build.py]="--small"
  [bench_shards.py]="--smoke"
  [bench_datasets.py]="--smoke"
  [bench_route_serve.py]="--n 200"
)
SKIP=" bench_peers.py "

failed=()
start_all=$(date +%s)
for path in benchmarks/bench_*.py; do
  name=$(basename "$path")
  case "$SKIP" in *" $name "*) echo "== $name: skipped (not for CI)"; continue ;; esac
  if [[ -z "${ARGS[$name]+set}" ]]; then
    echo "== $name: FAILED: run_smoke.sh has no small-size arguments for it; add it to ARGS (or SKIP)"
    failed+=("$name")
    continue
  fi
  echo "== $name ${ARGS[$name]}"
  t0=$(date +%s)
  log=$(mktemp)
  # shellcheck disable=SC2086  # ARGS values are word lists on purpose
  if "$PY" "$path" ${ARGS[$name]} >"$log" 2>&1; then
    tail -n 12 "$log"
    echo "== $name: ok in $(( $(date +%s) - t0 )) s"
  else
    code=$?
    cat "$log"
    echo "== $name: FAILED (exit $code) after $(( $(date +%s) - t0 )) s"
    failed+=("$name")
  fi
  rm -f "$log"
done
for name in "${!ARGS[@]}"; do
  [[ -f "benchmarks/$name" ]] || { echo "== $name: FAILED: listed in run_smoke.sh but missing"; failed+=("$name"); }
done

echo "benchmark smoke run: $(( $(date +%s) - start_all )) s"
if (( ${#failed[@]} )); then
  echo "benchmark smoke FAILED: ${failed[*]}"
  exit 1
fi
echo "benchmark smoke: all ran"
