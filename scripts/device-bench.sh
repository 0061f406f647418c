#!/usr/bin/env bash
# The cost of a step on Cortex-M cores, in instructions, under qemu-system-arm.
#
#   bash scripts/device-bench.sh
#
# For each core (M0, M4F, M7, M33, M55) and shipped model (tiny, fortunes-char,
# basicmotions; fortunes-char needs more RAM than the M0 board has), and on
# the M4F an integer-only dense model of config A's size (config-a-int:
# vocabulary 113, embedding 64, GRU 256, dense 256; 340 K MACs a token, in
# both layouts; a few training steps from a fixed seed: its cost, not its
# quality, is what is measured), it builds
# the test firmware with its cost harness (tests/firmware, `--features
# products`) and runs it under `-icount shift=0`, where QEMU's virtual clock
# advances one nanosecond per instruction retired, so SysTick measures
# instructions (calibrated by the firmware against a loop of known length).
# Every kernel set the core has runs the same tokens (or feature steps), and
# each must equal the host's output bit for bit, or the script fails; the
# language models' firmware also generates with seeded sampling (top-k 40,
# then top-p 0.9) and must give the host's text.
#
# The figures are instructions retired, not cycles: QEMU is not
# cycle-accurate. The estimated milliseconds assume one cycle per
# instruction at a named part's clock, and are labelled as estimates.
#
# On the DSP cores (M4F, M7, M33) it also runs tiny and fortunes-char in the
# arm-dsp layout (`edgegru export --model M --layout arm-dsp`, written here as
# M-dsp.egru), basicmotions and config-a-int so on the M4F, and tiny so on
# the M0 and the M55 (which run that layout with portable and DSP kernels):
# the host's output for that file must equal the portable file's, and the
# device's must equal both.
#
# It also builds the runtime as it was before the Cortex-M kernels (git
# revision $EDGEGRU_BENCH_BASE, default below) with the same harness, for the
# "before" rows, when that revision is in the checkout (it says so when not).
#
# It also measures the runtime's code on each core with and without its
# kernel sets (the quiet firmware with tiny, less the harness).
#
# Writes target/device-bench.json (one object per core, model and kernel set)
# and target/device-bench.md (the tables the README quotes).
set -euo pipefail
cd -P "$(dirname "$0")/.."
root=$PWD
# Each run's firmware inputs are set below, run by run (the seeded-sampling
# texts for this build's language models only): none from the caller.
unset EDGEGRU_FW_EXPECTED_TOP_K EDGEGRU_FW_EXPECTED_TOP_P EDGEGRU_FW_FEATURES EDGEGRU_FW_SEQUENCES
out=$root/target/device-bench
mkdir -p "$out"
base_rev=${EDGEGRU_BENCH_BASE:-f6eb433}
prompt="The meaning of life is"
tokens=40

cargo build -q --release -p edgegru-trainer
edgegru=$root/target/release/edgegru
[ -d target/ucr/BasicMotions ] || bash scripts/fetch-ucr.sh target/ucr
ts=$root/target/ucr/BasicMotions/BasicMotions_TEST.ts

# model_file MODEL: a shipped model, or one this script wrote (the arm-dsp layouts).
model_file() {
    if [ -f "models/$1.egru" ]; then echo "$root/models/$1.egru"; else echo "$out/$1.egru"; fi
}
# host_outputs MODEL: what the firmware must reproduce.
host_outputs() {
    case $1 in
    basicmotions*) "$edgegru" predict --model "$(model_file "$1")" --data "$ts" --exact > "$out/$1.host.txt" ;;
    *)
        "$edgegru" generate --model "$(model_file "$1")" --prompt "$prompt" --greedy --max-tokens $tokens > "$out/$1.host.txt"
        # Seeded sampling, which the firmware checks too.
        "$edgegru" generate --model "$(model_file "$1")" --prompt "$prompt" --temperature 0.8 --top-k 40 --seed 7 --max-tokens $tokens > "$out/$1.top-k.txt"
        "$edgegru" generate --model "$(model_file "$1")" --prompt "$prompt" --temperature 0.8 --top-p 0.9 --seed 7 --max-tokens $tokens > "$out/$1.top-p.txt"
        ;;
    esac
}
"$edgegru" train --corpus /usr/share/games/fortunes --out "$out/config-a-run" --steps 3 --seed 1 --threads 2 --force > /dev/null
"$edgegru" export --checkpoint "$out/config-a-run" --last --numerics int --out "$out/config-a-int.egru" --force > /dev/null
for model in tiny fortunes-char basicmotions config-a-int; do host_outputs $model; done
for model in tiny fortunes-char basicmotions config-a-int; do
    "$edgegru" export --model "$(model_file "$model")" --layout arm-dsp --out "$out/$model-dsp.egru" --force > /dev/null
    host_outputs "$model-dsp"
    cmp "$out/$model.host.txt" "$out/$model-dsp.host.txt" || { echo "error: $model in the arm-dsp layout gives other outputs"; exit 1; }
done

# run_fw DIR CORE BOARD TARGET CPU MODEL FEATURES LABEL: builds and runs one
# firmware; appends its report to $out/runs.txt.
run_fw() {
    local dir=$1 core=$2 board=$3 target=$4 cpu=$5 model=$6 features=$7 label=$8
    local flags="-C link-arg=-Tlink.x"
    [ -n "$cpu" ] && flags="$flags -C target-cpu=$cpu"
    local file
    file=$(model_file "$model")
    if [ "$label" = before ]; then
        # That runtime reads the files as they shipped then (versions 1 and
        # 2: the same outputs, bit for bit, as today's version-6 files).
        file="$out/$model-before.egru"
        git show "$base_rev:models/$model.egru" > "$file"
    fi
    local expected="$out/$model.host.txt"
    # That runtime's class probabilities were a float softmax (today's
    # integer-only numerics compute them in fixed point): the outputs it must
    # reproduce are its own, kept in bench/device-before/.
    [ "$label" = before ] && [ -f "bench/device-before/$model.host.txt" ] && expected="$root/bench/device-before/$model.host.txt"
    local env=(EDGEGRU_FW_BOARD="$board" EDGEGRU_FW_ICOUNT=1 EDGEGRU_FW_MODEL="$file"
        EDGEGRU_FW_EXPECTED="$expected" RUSTFLAGS="$flags")
    if [ "${model%-dsp}" = basicmotions ]; then
        env+=(EDGEGRU_FW_FEATURES="$ts" EDGEGRU_FW_SEQUENCES=0,10,20,30)
    else
        env+=(EDGEGRU_FW_PROMPT="$prompt" EDGEGRU_FW_TOKENS=$tokens)
        [ "$label" = now ] && env+=(EDGEGRU_FW_EXPECTED_TOP_K="$out/$model.top-k.txt" EDGEGRU_FW_EXPECTED_TOP_P="$out/$model.top-p.txt")
    fi
    local tdir="$root/target/device-bench/build-$label-$core"
    local log="$out/$label-$core-$model.log"
    (cd "$dir" && env "${env[@]}" cargo build -q --release --target "$target" --features "$features" --target-dir "$tdir" &&
        env "${env[@]}" timeout 600 cargo run -q --release --target "$target" --features "$features" --target-dir "$tdir") > "$log" 2>&1 || {
        cat "$log"
        echo "error: the $label firmware for $core with $model failed"
        exit 1
    }
    local elf="$tdir/$target/release/edgegru-firmware-test"
    local sizes
    sizes=$(arm-none-eabi-size -A "$elf" | awk '$1==".text"{t=$2} $1==".rodata"{r=$2} END{print t, r}')
    echo "run label=$label core=$core board=$board model=$model model_bytes=$(stat -c %s "$file") sizes=${sizes/ /,}" >> "$out/runs.txt"
    cat "$log" >> "$out/runs.txt"
}

: > "$out/runs.txt"
# core board target target-cpu models
cores=(
    "M0 microbit thumbv6m-none-eabi - tiny,basicmotions,tiny-dsp"
    "M4F mps2-an386 thumbv7em-none-eabihf cortex-m4 tiny,fortunes-char,basicmotions,tiny-dsp,fortunes-char-dsp,basicmotions-dsp,config-a-int,config-a-int-dsp"
    "M7 mps2-an500 thumbv7em-none-eabihf cortex-m7 tiny,fortunes-char,basicmotions,tiny-dsp,fortunes-char-dsp"
    "M33 mps2-an505 thumbv8m.main-none-eabihf cortex-m33 tiny,fortunes-char,basicmotions,tiny-dsp,fortunes-char-dsp"
    "M55 mps3-an547 thumbv8m.main-none-eabihf cortex-m55 tiny,fortunes-char,basicmotions,tiny-dsp"
)
for line in "${cores[@]}"; do
    read -r core board target cpu models <<< "$line"
    [ "$cpu" = - ] && cpu=
    for model in ${models//,/ }; do
        echo "device bench: $core ($board) $model"
        features=products
        # The arm-dsp layout needs the runtime's `arm-dsp-layout` feature.
        [ "${model%-dsp}" != "$model" ] && features=products,arm-dsp-layout
        run_fw tests/firmware "$core" "$board" "$target" "$cpu" "$model" "$features" now
    done
done

# The runtime before the Cortex-M kernels, with this harness (no product
# timing: that runtime has no Matrix::product_i8).
if git cat-file -e "$base_rev^{commit}" 2>/dev/null; then
    wt="$out/base"
    [ -d "$wt" ] && git worktree remove --force "$wt"
    git worktree prune
    git worktree add -q --detach "$wt" "$base_rev"
    rm -rf "$wt/tests/firmware"
    mkdir -p "$wt/tests/firmware"
    cp -r tests/firmware/Cargo.toml tests/firmware/Cargo.lock tests/firmware/build.rs tests/firmware/qemu.sh tests/firmware/src tests/firmware/.cargo "$wt/tests/firmware/"
    # That runtime has no arm-dsp layout to forward the feature to, and reads
    # version-1 files and runs every numerics without features.
    sed -i -e '/^arm-dsp-layout = /d' -e '/^full = /d' -e 's/^default = \["full"\]/default = []/' "$wt/tests/firmware/Cargo.toml"
    run_fw "$wt/tests/firmware" M0 microbit thumbv6m-none-eabi "" tiny baseline before
    for model in tiny fortunes-char basicmotions; do
        run_fw "$wt/tests/firmware" M4F mps2-an386 thumbv7em-none-eabihf cortex-m4 $model baseline before
    done
    for model in tiny fortunes-char; do
        run_fw "$wt/tests/firmware" M7 mps2-an500 thumbv7em-none-eabihf cortex-m7 $model baseline before
        run_fw "$wt/tests/firmware" M33 mps2-an505 thumbv8m.main-none-eabihf cortex-m33 $model baseline before
    done
    git worktree remove --force "$wt"
else
    echo "device bench: revision $base_rev (the runtime before the Cortex-M kernels) is not in this checkout: no 'before' rows"
fi

# The runtime's code on each core, with its kernel sets and without them
# (EDGEGRU_CORTEX_M_KERNELS=portable), and on the DSP cores with the
# arm-dsp layout's code too (the runtime's `arm-dsp-layout` feature): the
# quiet firmware with tiny, less the harness (scripts/runtime_text.py).
code_size() {
    local core=$1 target=$2 cpu=$3 kernels=$4
    local flags="-C link-arg=-Tlink.x"
    [ -n "$cpu" ] && flags="$flags -C target-cpu=$cpu"
    local model=tiny features=quiet
    [ "$kernels" = arm-dsp-layout ] && features=quiet,arm-dsp-layout
    local env=(EDGEGRU_FW_MODEL="$(model_file $model)" EDGEGRU_FW_EXPECTED="$out/$model.host.txt"
        EDGEGRU_FW_PROMPT="$prompt" EDGEGRU_FW_TOKENS=$tokens RUSTFLAGS="$flags")
    [ "$kernels" = portable ] && env+=(EDGEGRU_CORTEX_M_KERNELS=portable)
    local tdir="$root/target/device-bench/code-$kernels-$core"
    (cd tests/firmware && env "${env[@]}" cargo build -q --release --target "$target" --features "$features" --target-dir "$tdir")
    echo "code core=$core target=$target cpu=${cpu:--} kernels=$kernels runtime_text=$(python3 scripts/runtime_text.py "$tdir/$target/release/edgegru-firmware-test")" >> "$out/runs.txt"
}
for line in "${cores[@]}"; do
    read -r core board target cpu models <<< "$line"
    [ "$cpu" = - ] && cpu=
    for kernels in all portable; do code_size "$core" "$target" "$cpu" "$kernels"; done
    [ "$core" != M0 ] && code_size "$core" "$target" "$cpu" arm-dsp-layout
done

python3 scripts/device_bench_report.py "$out/runs.txt" target/device-bench.json target/device-bench.md
cat target/device-bench.md
