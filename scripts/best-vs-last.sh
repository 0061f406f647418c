#!/usr/bin/env bash
# The shipped classifiers' runs (their cards' settings), each trained twice:
# validating on the test split (--val-data, as the cards do) and on a
# stratified 10% of the training split (no --val-data). Prints the test
# accuracy of each run's last and best checkpoints (f32, evaluated with the
# runtime as a device runs them). With --val-data TEST the best checkpoint
# is chosen on the test split itself, so its accuracy is optimistic: the
# cards ship the last.
#
#   bash scripts/best-vs-last.sh [OUT]      # default OUT: target/best-vs-last
set -euo pipefail
cd -P "$(dirname "$0")/.."
out=${1:-target/best-vs-last}
bash scripts/fetch-ucr.sh target/ucr
cargo build --release -q -p edgegru-trainer
edgegru=target/release/edgegru
mkdir -p "$out"
acc() { "$edgegru" eval --checkpoint "$1" ${2:+"$2"} --data "$3" --json | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["accuracy"])'; }
step() { sed -n "s/.*from .*(step \([0-9]*\)).*/\1/p"; }
echo "| data set | validation | last: step | last: test accuracy | best: step | best: test accuracy |"
echo "|---|---|---:|---:|---:|---:|"
for spec in "BasicMotions:--hidden 32 --dense 0 --batch 8 --epochs 100" "JapaneseVowels:--hidden 64 --dense 32 --batch 16 --epochs 150"; do
    name=${spec%%:*}
    data=target/ucr/$name/$name
    for validation in test split; do
        run=$out/$name-$validation
        rm -rf "$run"
        val=()
        [ "$validation" = test ] && val=(--val-data "${data}_TEST.ts")
        # shellcheck disable=SC2086
        "$edgegru" train --task classify --data "${data}_TRAIN.ts" "${val[@]}" --out "$run" ${spec#*:} \
            --dropout 0.2 --lr 0.003 --seed 1 --threads 1 --log-every 1000000 > "$run.log"
        last_step=$("$edgegru" export --checkpoint "$run" --last --out "$run-last.egru" --force | step)
        best_step=$("$edgegru" export --checkpoint "$run" --out "$run-best.egru" --force | step)
        what=$([ "$validation" = test ] && echo "--val-data TEST" || echo "stratified 10% of TRAIN")
        echo "| $name | $what | $last_step | $(acc "$run" --last "${data}_TEST.ts") | $best_step | $(acc "$run" "" "${data}_TEST.ts") |"
    done
done
