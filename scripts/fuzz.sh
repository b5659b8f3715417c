#!/usr/bin/env bash
# Runs the fuzz targets in fuzz/ (cargo-fuzz, nightly).
#   scripts/fuzz.sh                 every target for 10 s: what CI runs, so a regression shows
#   scripts/fuzz.sh RUNS [TARGET…]  each target (or the ones named) for RUNS executions, with
#                                   the figures printed at the end (docs/benchmarks.md)
# Crashes stop the run and are kept in fuzz/artifacts/TARGET/; each found so far has a
# regression test beside the code it broke.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
runs="${1:-}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
cargo +nightly fuzz build -O
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  if [ -z "$runs" ]; then
    limit=(-max_total_time=10)
  else
    limit=(-runs="$runs")
  fi
  start=$(date +%s)
  # libFuzzer's last lines say how many runs it made; keep them for the summary.
  # New finds go to corpus/ (kept between runs, not committed); seeds/ holds committed inputs
  # a target cannot reach from nothing in CI's seconds (real SDP for `negotiation`).
  dirs=("corpus/$t")
  if [ -d "seeds/$t" ]; then dirs+=("seeds/$t"); fi
  cargo +nightly fuzz run -O "$t" "${dirs[@]}" -- "${limit[@]}" -print_final_stats=1 2>"$logs/$t.log" || {
    tail -n 40 "$logs/$t.log" >&2
    echo "fuzz: $t crashed; the input is in fuzz/artifacts/$t/" >&2
    exit 1
  }
  secs=$(( $(date +%s) - start ))
  # -a: libFuzzer's log quotes dictionary entries, which are not text.
  execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' || echo '?')
  echo "fuzz: $t: $execs executions in ${secs} s, no crash"
done
