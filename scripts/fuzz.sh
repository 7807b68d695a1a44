#!/usr/bin/env bash
# Fuzz every parser of untrusted bytes with libFuzzer, on stable Rust (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds for each target, all targets
#   FUZZ_JOBS=2 scripts/fuzz.sh 300           run two targets at a time
#
# Builds fuzz/ with the SanitizerCoverage instrumentation libFuzzer needs, passed as stable
# -C flags (what cargo-fuzz passes, without its -Z sanitizer flags), then runs each target on
# its corpus (fuzz/corpus/TARGET, grown from the seeds in fuzz/seeds/TARGET). A crash is
# written to fuzz/artifacts/TARGET/ and makes the script exit 1. The last lines printed are a
# table: target, executions, executions per second, corpus size, outcome.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$root/fuzz"
seconds=${1:-60}
shift || true
jobs=${FUZZ_JOBS:-1}
triple=$(rustc -vV | sed -n 's/^host: //p')

mapfile -t all < <(sed -n 's/^name = "\(.*\)"$/\1/p' "$fuzz/Cargo.toml" | grep -v '^gateway-exporter-fuzz$')
targets=("${@:-${all[@]}}")

# --target keeps the flags off build scripts and proc-macros, which run on the host.
export RUSTFLAGS="${RUSTFLAGS:-} --cfg fuzzing \
 -Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares"
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
(cd "$fuzz" && cargo build --locked --release --target "$triple" "${bins[@]}")

logs="$fuzz/target/fuzz-logs"
mkdir -p "$logs"
run() {
    local t=$1 corpus="$fuzz/corpus/$1"
    mkdir -p "$corpus" "$fuzz/artifacts/$t"
    local seeds=()
    [[ -d "$fuzz/seeds/$t" ]] && seeds=("$fuzz/seeds/$t")
    # -rss_limit_mb and -timeout turn unbounded memory and hangs into findings too.
    if "$fuzz/target/$triple/release/$t" "$corpus" "${seeds[@]}" \
        -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="$fuzz/artifacts/$t/" \
        >"$logs/$t.log" 2>&1; then
        echo ok >"$logs/$t.outcome"
    else
        echo "FOUND: $(ls -t "$fuzz/artifacts/$t" | head -1)" >"$logs/$t.outcome"
    fi
}

running=0
for t in "${targets[@]}"; do
    echo "fuzzing $t for ${seconds}s" >&2
    run "$t" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

status=0
printf '%-18s %12s %8s %8s  %s\n' target executions exec/s corpus outcome
for t in "${targets[@]}"; do
    stat() { sed -n "s/^stat::$1: *//p" "$logs/$t.log" | tail -1; }
    outcome=$(cat "$logs/$t.outcome")
    [[ $outcome == ok ]] || status=1
    printf '%-18s %12s %8s %8s  %s\n' "$t" "$(stat number_of_executed_units)" \
        "$(stat average_exec_per_sec)" "$(ls "$fuzz/corpus/$t" | wc -l)" "$outcome"
done
exit $status
