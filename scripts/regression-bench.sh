#!/usr/bin/env bash
# Trains, exports and evaluates regressors on the two TSER problems bundled
# in the sktime wheel (Tecator, Covid3Month), and prints the test RMSE of
# the f32, int8 (hybrid) and integer-only files, one run each, with the last
# checkpoint. Requires int8 within 5% of f32's RMSE.
#
#   bash scripts/regression-bench.sh [OUT]      # default OUT: target/regression-bench
set -euo pipefail
cd -P "$(dirname "$0")/.."
out=${1:-target/regression-bench}
bash scripts/fetch-ucr.sh target/ucr
cargo build --release -q -p edgegru-trainer
edgegru=target/release/edgegru
mkdir -p "$out"
rmse() { "$edgegru" eval --model "$1" --data "$2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["rmse"])'; }
echo "| dataset | network | f32 | int8 (hybrid) | int8 vs f32 | integer-only |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "Tecator:64:1000" "Covid3Month:64:300"; do
    IFS=: read -r name hidden epochs <<< "$spec"
    data=target/ucr/$name/${name}
    run=$out/$name
    rm -rf "$run"
    "$edgegru" train --task regress --data "${data}_TRAIN.ts" --val-data "${data}_TEST.ts" --out "$run" \
        --hidden "$hidden" --dense 0 --batch 8 --epochs "$epochs" --seed 1 --log-every 1000000 > "$run.log"
    for enc in f32:"--weights f32" int8:"--weights int8" int:"--weights int8 --numerics int"; do
        # shellcheck disable=SC2086
        "$edgegru" export --checkpoint "$run" --last ${enc#*:} --out "$run-${enc%%:*}.egru" --force > /dev/null
    done
    f=$(rmse "$run-f32.egru" "${data}_TEST.ts") i=$(rmse "$run-int8.egru" "${data}_TEST.ts") n=$(rmse "$run-int.egru" "${data}_TEST.ts")
    python3 - "$name" "$hidden" "$epochs" "$f" "$i" "$n" <<'PY'
import sys
name, hidden, epochs, f, i, n = sys.argv[1], sys.argv[2], sys.argv[3], *map(float, sys.argv[4:])
print(f"| {name} | GRU {hidden}, {epochs} epochs | {f:.5g} | {i:.5g} | {100 * (i / f - 1):+.1f}% | {n:.5g} |")
if i > 1.05 * f:
    sys.exit(f"{name}: int8 RMSE {i} is more than 5% above f32's {f}")
PY
done
