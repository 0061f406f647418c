#!/usr/bin/env bash
# Coverage-guided fuzzing of the runtime on the stable toolchain: libFuzzer
# (built from source by the libfuzzer-sys crate) drives each target of
# runtime/fuzz, instrumented with LLVM's SanitizerCoverage through stable
# rustc flags (no nightly, no cargo-fuzz). Debug assertions and overflow
# checks are on, so an arithmetic overflow is a crash too.
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   # default: 60 s, all targets
#
# With FUZZ_KEEP_CORPUS=1 (the test command's setting) the corpus in the
# repository is read, not changed.
#
# Each target starts from its corpus in runtime/fuzz/corpus/TARGET (kept in
# the repository; the normal test run replays it) and adds what it finds
# there, merged to a minimal set at the end. Exits non-zero on a crash, a
# timeout (over 10 s for one input) or running out of memory; the failing
# input is left in runtime/fuzz/artifacts/TARGET/.
set -euo pipefail
cd -P "$(dirname "$0")/../runtime/fuzz"
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load state tokenizer)

export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation out of build scripts and proc macros.
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build -q --release --bins --target "$host" --target-dir target/fuzz
bin=target/fuzz/$host/release
for t in "${targets[@]}"; do
    corpus=corpus/$t
    mkdir -p "$corpus" "artifacts/$t" "target/fuzz/new-$t-$$"
    echo "==> fuzzing $t for $seconds s (corpus: $(ls "$corpus" | wc -l) inputs)"
    "$bin/$t" "target/fuzz/new-$t-$$" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="$([ "$t" = load ] && echo 8192 || echo 1024)" -print_final_stats=1 -artifact_prefix="artifacts/$t/" 2>&1 |
        grep -E "stat::number_of_executed_units|stat::peak_rss|DONE|ERROR|panicked|SUMMARY|Test unit written" || true
    status=${PIPESTATUS[0]}
    [ "$status" -eq 0 ] || { echo "error: $t failed (exit $status); see artifacts/$t/"; exit 1; }
    # Keep a minimal corpus: the old inputs plus the new ones that add coverage.
    if [ "${FUZZ_KEEP_CORPUS:-0}" != 1 ]; then
        "$bin/$t" -merge=1 "$corpus" "target/fuzz/new-$t-$$" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
    fi
    rm -rf "target/fuzz/new-$t-$$"
    echo "$t: corpus now $(ls "$corpus" | wc -l) inputs"
done
