#!/usr/bin/env bash
# Every test of edgegru, on a fresh Debian machine. Installs what it needs
# (Debian packages, rustup targets, PyPI wheels, the UCR/UEA data sets), then
# runs: format and lints, the code's shape, the host test suite (doc tests
# included), the aarch64 suite under qemu-user (NEON and SDOT kernels), the
# Python package (its pytest suite, its wheel in a fresh environment), the
# bare-metal builds, every command of the README and docs/, the regression
# benchmark, the C library's tests, the Cortex-M firmware under
# qemu-system-arm, and the fuzz targets. Skips nothing: a missing tool is an
# error.
set -euo pipefail
cd -P "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing system packages"
need_apt=()
for pkg in fortunes qemu-user qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross valgrind pkg-config binutils-arm-none-eabi gcc-arm-none-eabi cmake; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    # Where qemu-user or qemu-utils already come from bookworm-backports, the
    # matching qemu-system-arm must too (the two releases' packages conflict).
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" ||
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports "${need_apt[@]}"
fi
rustup target add aarch64-unknown-linux-gnu thumbv6m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf
rustup component add rustfmt clippy
# PyPI packages in a virtual environment: onnx (checker, reference evaluator),
# onnxruntime, whose wheel carries the ONNX Runtime shared library that the
# `ort` backend loads at run time, and NVIDIA's NVRTC, so the CUDA training
# kernels are compiled here too (no GPU needed for that).
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q "onnx>=1.16,<2" numpy "onnxruntime>=1.31" "nvidia-cuda-nvrtc>=13,<14"
ORT_DYLIB_PATH=$(ls "$PWD"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.1.* | head -n 1)
NVRTC_DIR=$(dirname "$(ls "$PWD"/.venv/lib/python3*/site-packages/nvidia/cu13/lib/libnvrtc.so.13 | head -n 1)")
export ORT_DYLIB_PATH EDGEGRU_REQUIRE_ORT=1 EDGEGRU_REQUIRE_NVRTC=1
export LD_LIBRARY_PATH="$NVRTC_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# BasicMotions and JapaneseVowels (the shipped sensor/audio models' data),
# unpacked from the sktime wheel on PyPI.
bash scripts/fetch-ucr.sh target/ucr
export EDGEGRU_UCR_DIR="$PWD/target/ucr"

# Kernel sets the host must run, so SIMD cannot silently fall back to scalar.
expect=""
if [ "$(uname -m)" = x86_64 ]; then
    grep -qw avx2 /proc/cpuinfo && expect="avx2"
    grep -qwE 'avx512_vnni|avx_vnni' /proc/cpuinfo && expect="$expect,vnni"
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# Device builds: the lean runtime (no features) and every device feature.
device_features=format-v1,float-numerics,block-sparse,arm-dsp-layout
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    cargo clippy -p edgegru-runtime --target "$target" -- -D warnings
    cargo clippy -p edgegru-runtime --target "$target" --features "$device_features" -- -D warnings
done
# The Cortex-M55 build (Helium kernels), in its own target folder (other rustflags).
for features in "" "$device_features"; do
    RUSTFLAGS="-C target-cpu=cortex-m55" cargo clippy -p edgegru-runtime --target thumbv8m.main-none-eabihf \
        --target-dir target/clippy-cortex-m55 --features "$features" -- -D warnings
done
cargo clippy -p edgegru-ffi --target thumbv7em-none-eabihf --no-default-features --features panic-handler -- -D warnings
cargo clippy -p edgegru-ffi --target thumbv7em-none-eabihf --no-default-features --features "panic-handler,$device_features" -- -D warnings
cargo clippy -p edgegru-runtime --target aarch64-unknown-linux-gnu --features std --all-targets -- -D warnings

step "code shape: no function over 80 lines in any crate; the trainer library builds without the command line (no clap)"
python3 scripts/fn_lengths.py
cargo check -q -p edgegru-trainer --no-default-features --features cuda --lib
if cargo tree -q -p edgegru-trainer --no-default-features --features cuda -e normal | grep -q "clap"; then
    echo "error: the trainer library without the cli feature depends on clap"
    exit 1
fi

step "host tests (x86-64: scalar, AVX2 and, where present, VNNI kernels; tract and ONNX Runtime backends; CUDA kernels through NVRTC; doc tests)"
EDGEGRU_EXPECT_KERNELS="$expect" cargo test --workspace --release
# The CUDA tests that need a GPU say so here when there is none (tests/gpu/check.sh runs them on one).
cargo test -q --release -p edgegru-trainer --test cuda -- --nocapture --test-threads=1 2>&1 | grep -E "SKIPPED|test result"

step "aarch64 tests under qemu-aarch64 -cpu max (scalar, NEON and SDOT kernels)"
EDGEGRU_EXPECT_KERNELS="neon,neon-dot" cargo test --release --target aarch64-unknown-linux-gnu \
    -p edgegru-runtime -p edgegru-tests --features edgegru-runtime/std

step "the Python package: pip install ./python into .venv, its pytest suite, the built wheel imported in a fresh virtual environment, the example"
# The command line and the C library the package's tests compare against.
cargo build --release -p edgegru-ffi -p edgegru-trainer
.venv/bin/pip install -q "maturin>=1.7,<2" "pytest>=7" tqdm
.venv/bin/pip install -q --force-reinstall --no-deps ./python
.venv/bin/python -m pytest -q python/tests
wheel_start=$(date +%s)
rm -f target/wheels/edgegru-*.whl
.venv/bin/maturin build -q --release -m python/Cargo.toml --out target/wheels
wheel=$(ls target/wheels/edgegru-*-abi3-*.whl)
echo "wheel: $(basename "$wheel"), $(stat -c %s "$wheel") bytes, built in $(( $(date +%s) - wheel_start )) s (the crates already compiled)"
rm -rf target/wheel-venv
python3 -m venv target/wheel-venv
target/wheel-venv/bin/pip install -q "$wheel"
(cd target/wheel-venv && bin/python -c '
import edgegru, numpy as np, os
assert "wheel-venv" in edgegru.__file__, edgegru.__file__
m = edgegru.load("basicmotions")
p = m.predict(np.zeros((2, 10, 6), dtype=np.float32))
assert p.shape == (2, 4) and abs(float(p.sum()) - 2.0) < 1e-4
print("the wheel imports and predicts in a fresh virtual environment:", edgegru.__version__, os.path.dirname(edgegru.__file__))
')
.venv/bin/python examples/python/basicmotions.py --out target/basicmotions-py.egru

step "bare-metal builds without an allocator"
for target in thumbv6m-none-eabi thumbv7em-none-eabihf; do
    cargo build --release -p edgegru-runtime --target "$target"
done

step "every command of the README and docs/, as written; their links and paths; the code map"
cargo build --release -p edgegru-ffi -p edgegru-trainer
python3 scripts/doc_commands.py

step "regression on the TSER problems Tecator and Covid3Month: f32, int8, integer-only (int8 within 5% of f32's RMSE)"
bash scripts/regression-bench.sh

step "the main job: generate with the built-in model"
# The C library is built with it: one feature set, one build of the runtime.
cargo build --release -p edgegru-ffi -p edgegru-trainer
target/release/edgegru generate --prompt "The meaning of life is" --max-tokens 40 --seed 1

step "C library: C99 tests (static and shared; x86-64 and aarch64), zero heap use, valgrind, example via pkg-config"
cargo build --release -p edgegru-ffi -p edgegru-trainer
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
target/release/edgegru train --corpus /usr/share/games/fortunes/art --out "$work/run" --emb 16 --hidden 32 --dense 32 \
    --seq-len 32 --batch 8 --steps 20 --threads 1 > /dev/null
target/release/edgegru export --checkpoint "$work/run" --weights int8 --sparse --out "$work/m.egru" > /dev/null
CFLAGS="-std=c99 -Wall -Wextra -Werror -pedantic"
gcc $CFLAGS -DEGRU_COUNT_MALLOC -Iffi/include tests/c/test_api.c target/release/libedgegru.a -lpthread -ldl -lm -o "$work/test_api_count"
# Every model kind: block-sparse int8 characters (with a feature classifier
# beside it), words, integer-only characters.
"$work/test_api_count" "$work/m.egru" models/basicmotions.egru
# ...and both in the arm-dsp layout (format version 3).
target/release/edgegru export --model "$work/m.egru" --layout arm-dsp --out "$work/m-dsp.egru" > /dev/null
target/release/edgegru export --model models/basicmotions.egru --layout arm-dsp --out "$work/bm-dsp.egru" > /dev/null
for m in models/fortunes-word.egru models/tiny.egru; do
    echo "C tests on $m:"
    "$work/test_api_count" "$m" models/japanesevowels.egru
done
echo "C tests on the arm-dsp layout:"
"$work/test_api_count" "$work/m-dsp.egru" "$work/bm-dsp.egru"
# A version-4 feature model: named CSV columns, missing values filled with the previous value.
target/release/edgegru train --task classify --data tests/fixtures/motion.csv --label-column activity --fill previous \
    --out "$work/motion" --hidden 16 --dense 0 --batch 4 --epochs 5 --threads 1 > /dev/null
target/release/edgegru export --checkpoint "$work/motion" --weights int8 --out "$work/motion.egru" > /dev/null
echo "C tests on a version-4 feature model (names, fill):"
"$work/test_api_count" "$work/m.egru" "$work/motion.egru" | tee "$work/v4.log"
grep -q "feature model: format 4, features named, fill 3" "$work/v4.log" || { echo "error: the C library does not see the model's names and fill"; exit 1; }
gcc $CFLAGS -g -Iffi/include tests/c/test_api.c target/release/libedgegru.a -lpthread -ldl -lm -o "$work/test_api"
valgrind --error-exitcode=3 --leak-check=full --errors-for-leak-kinds=definite -q "$work/test_api" "$work/m.egru" models/basicmotions.egru
gcc $CFLAGS -Iffi/include tests/c/test_api.c -Ltarget/release -ledgegru -o "$work/test_api_shared"
LD_LIBRARY_PATH=target/release "$work/test_api_shared" "$work/m.egru" models/basicmotions.egru
cargo build -q --release -p edgegru-ffi --target aarch64-unknown-linux-gnu
aarch64-linux-gnu-gcc $CFLAGS -DEGRU_COUNT_MALLOC -Iffi/include tests/c/test_api.c \
    target/aarch64-unknown-linux-gnu/release/libedgegru.a -lpthread -ldl -lm -o "$work/test_api_aarch64"
echo "C tests on aarch64 under qemu-aarch64 -cpu max:"
qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$work/test_api_aarch64" "$work/m.egru" models/basicmotions.egru
qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$work/test_api_aarch64" "$work/m.egru" "$work/motion.egru"
bash scripts/install-c-lib.sh "$work/prefix" > /dev/null
gcc $CFLAGS examples/c/generate.c $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs --static edgegru) -o "$work/generate"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/generate" "$work/m.egru" "The " 20 > /dev/null

step "ONNX export: onnx.checker, and the reference evaluator against the native runtime"
target/release/edgegru train --corpus /usr/share/games/fortunes/art --out "$work/onnx-run" --emb 16 --hidden 32 --dense 32 \
    --seq-len 32 --batch 8 --steps 300 --threads 1 > /dev/null
for weights in f32 int8; do
    target/release/edgegru export --checkpoint "$work/onnx-run" --weights "$weights" --format onnx --out "$work/m-$weights.onnx" > /dev/null
done
target/release/edgegru export --checkpoint "$work/onnx-run" --weights f32 --out "$work/m-f32.egru" > /dev/null
target/release/edgegru generate --model "$work/m-f32.egru" --prompt "The meaning of life is" --greedy --max-tokens 200 > "$work/native.txt"
# Float: 200 greedy tokens identical to the native f32 runtime.
.venv/bin/python tests/onnx/check_onnx.py "$work/m-f32.onnx" --prompt "The meaning of life is" --tokens 200 --expect "$work/native.txt"
# int8 QDQ: the float graph with int8-rounded weights; over the same tokens its logits
# stay within 1.0 of the float graph's (a wrong scale or axis would be far off).
.venv/bin/python tests/onnx/check_onnx.py "$work/m-int8.onnx" --prompt "The meaning of life is" --tokens 200 \
    --compare "$work/m-f32.onnx" --tolerance 1.0
# The same graphs through tract and ONNX Runtime, from the command line.
for backend in tract ort; do
    target/release/edgegru generate --model "$work/m-f32.onnx" --backend "$backend" --prompt "The meaning of life is" \
        --greedy --max-tokens 200 > "$work/$backend.txt"
    cmp "$work/$backend.txt" "$work/native.txt"
    echo "$backend: 200 greedy tokens equal the native runtime's"
done
target/release/edgegru bench --model models/fortunes-char.egru --backends native,tract,ort --steps 500 --rounds 3

step "C library for Cortex-M4F (no std, panic handler feature)"
cargo build -p edgegru-ffi --target thumbv7em-none-eabihf --no-default-features --features panic-handler --profile firmware

step "Cortex-M firmware under qemu-system-arm: device output must equal host output"
# Budgets of issue-level targets, checked here because they are deterministic.
CODE_BUDGET=30720      # the runtime's .text on thumbv7em (quiet firmware with tiny, less the harness; opt-level s, DSP kernels in), bytes:
                       # 24 KB until tiny became a version-5 file (the general loader of versions 2 to 5 and the row tables' code),
                       # 26 KB until the DSP GRU update's asm loop and the requantization paths' own row ends (+520 B),
                       # 26.5 KB until the products' shift ranges found at load and the loops that trust them (+304 B),
                       # 26.75 KB until the integer-only classifiers' fixed-point softmax and the version-6 loader's checks (+812 B),
                       # 27.75 KB until the float numerics' FPU kernels (+1,456 B: the build's default features include float-numerics),
                       # 29 KB until the word-load loops of the whole step (+696 B: the sums to f32 by VLDM, relu and the largest
                       # magnitude on the bits, the state's f32 form by VCVT, the requantization's bias in SMMLAR)
RAM_BUDGET_T=8192      # arena + runtime stack for config T on the Cortex-M0, bytes
fw_prompt="The meaning of life is"
# fw_env MODEL TOKENS [EXPECTED]: the firmware's inputs; EXPECTED defaults to
# what the host's `edgegru generate` prints for MODEL.
# The firmware also generates with seeded sampling (top-k, then top-p) and
# must give the host's text for those (fw_sampled checks that it said so).
fw_env() {
    local expected=${3:-$work/fw-host.txt}
    [ -n "${3:-}" ] || target/release/edgegru generate --model "$1" --prompt "$fw_prompt" --greedy --max-tokens "$2" > "$expected"
    local seeded=(--model "$1" --prompt "$fw_prompt" --temperature 0.8 --seed 7 --max-tokens "$2")
    target/release/edgegru generate "${seeded[@]}" --top-k 40 > "$work/fw-host-top-k.txt"
    target/release/edgegru generate "${seeded[@]}" --top-p 0.9 > "$work/fw-host-top-p.txt"
    export EDGEGRU_FW_MODEL="$(realpath "$1")" EDGEGRU_FW_PROMPT="$fw_prompt" EDGEGRU_FW_EXPECTED="$expected" EDGEGRU_FW_TOKENS="$2" \
        EDGEGRU_FW_EXPECTED_TOP_K="$work/fw-host-top-k.txt" EDGEGRU_FW_EXPECTED_TOP_P="$work/fw-host-top-p.txt"
}
# fw TARGET [cargo args]: builds and runs the firmware (under a timeout, so a
# hang cannot stall the run); its report goes to $work/fw.log too.
fw() {
    local target=$1
    shift
    (cd tests/firmware && cargo build -q --release --target "$target" "$@" && timeout 300 cargo run -q --release --target "$target" "$@") |
        tee "$work/fw.log"
}
# fw_sampled TARGET [cargo args]: fw, and the run checked seeded sampling.
fw_sampled() {
    fw "$@"
    grep -q "PASS: seeded sampling" "$work/fw.log" || { echo "error: the firmware did not check seeded sampling"; exit 1; }
}
(cd tests/firmware && cargo fmt -- --check)
fw_env models/tiny.egru 100
for target in thumbv7em-none-eabihf thumbv6m-none-eabi; do
    (cd tests/firmware && cargo clippy -q --release --target "$target" -- -D warnings)
done
fw_sampled thumbv7em-none-eabihf
fw_sampled thumbv6m-none-eabi
ram=$(sed -n 's/.*arena + stack \([0-9]*\) bytes.*/\1/p' "$work/fw.log")
echo "config T on the Cortex-M0: arena + runtime stack = $ram bytes (budget $RAM_BUDGET_T)"
[ "$ram" -le "$RAM_BUDGET_T" ] || { echo "error: config T needs more than $RAM_BUDGET_T bytes of RAM"; exit 1; }
fw thumbv7em-none-eabihf --features quiet
text=$(python3 scripts/runtime_text.py tests/firmware/target/thumbv7em-none-eabihf/release/edgegru-firmware-test)
echo "runtime code on thumbv7em (the quiet firmware's .text less the test harness; model in .rodata): $text bytes (budget $CODE_BUDGET)"
[ "$text" -le "$CODE_BUDGET" ] || { echo "error: runtime code grew past $CODE_BUDGET bytes"; exit 1; }
# EDGEGRU_CORTEX_M_KERNELS=portable keeps only the scalar kernels (the README's promise).
EDGEGRU_CORTEX_M_KERNELS=portable fw_sampled thumbv7em-none-eabihf
grep -q "kernels scalar)" "$work/fw.log" || { echo "error: EDGEGRU_CORTEX_M_KERNELS=portable still chose other kernels"; exit 1; }
fw_env models/fortunes-char.egru 80
fw_sampled thumbv7em-none-eabihf
# A feature model: four test sequences (one per activity), every step's
# output bits equal to the host's, on the Cortex-M4F and the Cortex-M0.
fw_features() {
    unset EDGEGRU_FW_PROMPT EDGEGRU_FW_TOKENS EDGEGRU_FW_EXPECTED_TOP_K EDGEGRU_FW_EXPECTED_TOP_P
    local expected=${2:-$work/fw-host-bits.txt}
    [ -n "${2:-}" ] || target/release/edgegru predict --model "$1" --data target/ucr/BasicMotions/BasicMotions_TEST.ts --exact > "$expected"
    export EDGEGRU_FW_MODEL="$(realpath "$1")" EDGEGRU_FW_FEATURES="$PWD/target/ucr/BasicMotions/BasicMotions_TEST.ts" \
        EDGEGRU_FW_SEQUENCES=0,10,20,30 EDGEGRU_FW_EXPECTED="$expected"
}
fw_features models/basicmotions.egru
fw thumbv7em-none-eabihf
fw thumbv6m-none-eabi
sed 's/ 3f/ 3e/' "$work/fw-host-bits.txt" > "$work/fw-wrong-bits.txt"
fw_features models/basicmotions.egru "$work/fw-wrong-bits.txt"
if fw thumbv6m-none-eabi; then
    echo "error: the firmware accepted output bits that differ from the host's"
    exit 1
fi
echo "the firmware refused wrong output bits, as it must"
unset EDGEGRU_FW_FEATURES EDGEGRU_FW_SEQUENCES
# The check must be able to fail: a wrong expected text makes the firmware exit 1.
printf '%s not what the host said\n' "$fw_prompt" > "$work/fw-wrong.txt"
fw_env models/tiny.egru 100 "$work/fw-wrong.txt"
if fw thumbv6m-none-eabi; then
    echo "error: the firmware accepted output that differs from the host's"
    exit 1
fi
echo "the firmware refused a wrong expected text, as it must"

step "Cortex-M cost per token: every core and kernel set under qemu -icount (scripts/device-bench.sh)"
# Each firmware run also checks its core's kernel sets against the scalar
# kernels and requires the host's outputs from every kernel set.
bash scripts/device-bench.sh

step "the C SDK (scripts/c-sdk.sh), then with no cargo or rustc on PATH: the C firmware on the M0, M4F, M7, M33 and M55 (full, lean and arm-dsp libraries), the C++ wrapper on the M4F, the host example on x86-64 and aarch64"
sdk=$PWD/dist/edgegru-c-sdk-test
bash scripts/c-sdk.sh "$sdk"
(cd "$sdk" && sha256sum --quiet -c SHA256SUMS)
cat "$sdk/README.md" | sed -n '/^| core /,/^$/p'
fw_prompt="The meaning of life is"
target/release/edgegru generate --model models/tiny.egru --prompt "$fw_prompt" --greedy --max-tokens 80 > "$work/c-fw-host.txt"
target/release/edgegru generate --model models/fortunes-char.egru --prompt "$fw_prompt" --greedy --max-tokens 80 > "$work/c-fw-host-char.txt"
target/release/edgegru export --model models/tiny.egru --layout arm-dsp --out "$work/tiny-dsp.egru" --force
target/release/edgegru export --model models/basicmotions.egru --format c --name cpp_model --out "$work/cpp/cpp_model.c" --force
# The C++ wrapper's test on the host (g++, C++11, no exceptions or RTTI); its
# outputs equal `edgegru predict --exact` on the sequence it prints.
gcc -std=c99 -c -I"$work/cpp" "$work/cpp/cpp_model.c" -o "$work/cpp/model.o"
gcc -std=c99 -c tests/c/host_semihosting.c -o "$work/cpp/host_io.o"
g++ -std=c++11 -Wall -Wextra -Werror -pedantic -fno-exceptions -fno-rtti -I"$sdk/include" -I"$work/cpp" tests/c/test_cpp.cpp \
    "$work/cpp/model.o" "$work/cpp/host_io.o" "$sdk/lib/x86_64-linux/libedgegru.a" -lpthread -ldl -lm -o "$work/cpp/test_cpp"
"$work/cpp/test_cpp" > "$work/cpp/host.txt"
(printf '@dimensions 6\n@classLabel false\n@data\n'; sed -n 's/^ts: //p' "$work/cpp/host.txt") > "$work/cpp/seq.ts"
target/release/edgegru predict --model basicmotions --data "$work/cpp/seq.ts" --exact > "$work/cpp/want.txt"
grep "^sequence" "$work/cpp/host.txt" | cmp - "$work/cpp/want.txt" || { echo "error: the C++ wrapper's outputs differ from predict --exact"; exit 1; }
echo "C++ wrapper on the host: every check passed; $(grep -c '^sequence' "$work/cpp/host.txt") steps equal edgegru predict --exact, bit for bit"
# Models for the lean libraries: tiny (version 6), and three they must
# refuse: version 1 (tiny as it shipped before its row tables), hybrid
# numerics, block-sparse weights.
target/release/edgegru export --model models/fortunes-char.egru --out "$work/char-v2.egru" --force > /dev/null
target/release/edgegru export --checkpoint "$work/run" --weights int8 --numerics int --sparse --out "$work/int-sparse.egru" --force > /dev/null
nocargo=$(echo "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e rustup | paste -sd:)
export sdk work fw_prompt
env PATH="$nocargo" EDGEGRU_SDK="$sdk" bash -euo pipefail -c '
    if command -v cargo || command -v rustc; then echo "error: cargo or rustc still on PATH"; exit 1; fi
    for board_model in microbit:tiny mps2-an386:fortunes-char mps2-an500:tiny mps2-an505:tiny mps3-an547:tiny; do
        board=${board_model%%:*} model=${board_model#*:}
        host=$work/c-fw-host.txt
        [ "$model" = tiny ] || host=$work/c-fw-host-char.txt
        timeout 300 bash examples/c-firmware/build.sh "$board" "models/$model.egru" 80 > "$work/c-fw-device.txt"
        cmp "$host" "$work/c-fw-device.txt" || { echo "error: the C firmware on $board differs from the host"; exit 1; }
        echo "C firmware from the SDK on $board ($model): the host text, byte for byte"
    done
    # The M4F with a model in the arm-dsp layout: the arm-dsp library; the portable one refuses it.
    EDGEGRU_LAYOUT=arm-dsp timeout 300 bash examples/c-firmware/build.sh mps2-an386 "$work/tiny-dsp.egru" 80 > "$work/c-fw-device.txt"
    cmp "$work/c-fw-host.txt" "$work/c-fw-device.txt" || { echo "error: the C firmware with tiny in the arm-dsp layout differs from the host"; exit 1; }
    echo "C firmware from the SDK on mps2-an386 (tiny, arm-dsp layout, the cortex-m4-arm-dsp library): the host text of the portable file"
    if timeout 300 bash examples/c-firmware/build.sh mps2-an386 "$work/tiny-dsp.egru" 80 > "$work/c-fw-device.txt" 2>&1; then
        echo "error: the portable library ran a model in the arm-dsp layout"; exit 1
    fi
    grep -q "arm-dsp" "$work/c-fw-device.txt" || { cat "$work/c-fw-device.txt"; echo "error: no clear refusal of the arm-dsp layout"; exit 1; }
    echo "the portable library refuses the arm-dsp layout, as it must"
    # The lean libraries (integer-only, dense, format 2 to 6) on the M0 and the M4F: the host text.
    for board in microbit mps2-an386; do
        EDGEGRU_VARIANT=lean timeout 300 bash examples/c-firmware/build.sh "$board" models/tiny.egru 80 > "$work/c-fw-device.txt"
        cmp "$work/c-fw-host.txt" "$work/c-fw-device.txt" || { echo "error: the lean library on $board differs from the host"; exit 1; }
        echo "C firmware from the SDK on $board (tiny, the lean library): the host text, byte for byte"
    done
    # What the lean library leaves out is refused at egru_model_init, naming it.
    for refusal in "tests/fixtures/v1/tiny.egru:format version is not supported (version 1 on a device: build with format-v1" \
        "$work/char-v2.egru:float or hybrid-int8 numerics; this library runs integer-only models" \
        "$work/int-sparse.egru:layout (arm-dsp, or block-sparse) is not built into this library"; do
        model=${refusal%%:*} why=${refusal#*:}
        if EDGEGRU_VARIANT=lean timeout 300 bash examples/c-firmware/build.sh mps2-an386 "$model" 10 > "$work/c-fw-device.txt" 2>&1; then
            echo "error: the lean library ran $model"; exit 1
        fi
        grep -qF "$why" "$work/c-fw-device.txt" || { cat "$work/c-fw-device.txt"; echo "error: no clear refusal of $model"; exit 1; }
        echo "the lean library refuses $(basename "$model"): $why"
    done
    # The C++ wrapper on the M4F (arm-none-eabi-g++ -fno-exceptions -fno-rtti): the host output.
    EDGEGRU_CMAKE_ARGS="-DCPP_CHECK=$PWD/tests/c/test_cpp.cpp -DCPP_MODEL_SOURCE=$work/cpp/cpp_model.c" \
        timeout 300 bash examples/c-firmware/build.sh mps2-an386 models/tiny.egru 80 > /dev/null
    timeout 120 qemu-system-arm -machine mps2-an386 -nographic -monitor none -serial none -semihosting-config enable=on,target=native \
        -kernel target/c-firmware/mps2-an386/cpp_check.elf > "$work/cpp/m4.txt"
    cmp "$work/cpp/host.txt" "$work/cpp/m4.txt" || { echo "error: the C++ wrapper on the M4F differs from the host"; exit 1; }
    echo "C++ wrapper on the M4F: the host output, byte for byte"
    # An unknown core is refused when configuring.
    if cmake -S examples/c -B "$work/cmake-m3" -DCMAKE_PREFIX_PATH="$sdk" -DEDGEGRU_CORE=cortex-m3 > "$work/cmake-m3.log" 2>&1; then
        echo "error: CMake accepted an unknown core"; exit 1
    fi
    grep -q "no library for the core \"cortex-m3\"" "$work/cmake-m3.log" || { cat "$work/cmake-m3.log"; exit 1; }
    echo "find_package(edgegru) refuses an unknown core, naming the known ones"
    if cmake -S examples/c -B "$work/cmake-variant" -DCMAKE_PREFIX_PATH="$sdk" -DEDGEGRU_VARIANT=small > "$work/cmake-variant.log" 2>&1; then
        echo "error: CMake accepted an unknown variant"; exit 1
    fi
    grep -q "EDGEGRU_VARIANT is \"small\"; use full or lean" "$work/cmake-variant.log" || { cat "$work/cmake-variant.log"; exit 1; }
    echo "find_package(edgegru) refuses an unknown variant"
    # The host example with find_package(edgegru): x86-64 (static, shared) and aarch64 under qemu-user, the same output.
    cmake -S examples/c -B "$work/host-x86" -DCMAKE_PREFIX_PATH="$sdk" > /dev/null && cmake --build "$work/host-x86" > /dev/null
    cmake -S examples/c -B "$work/host-a64" -DCMAKE_PREFIX_PATH="$sdk" -DCMAKE_TOOLCHAIN_FILE="$PWD/examples/c/aarch64-linux-gnu.cmake" > /dev/null
    cmake --build "$work/host-a64" > /dev/null
    "$work/host-x86/generate" models/tiny.egru "The " 40 > "$work/host-x86.txt"
    LD_LIBRARY_PATH="$sdk/lib/x86_64-linux" "$work/host-x86/generate_shared" models/tiny.egru "The " 40 > "$work/host-x86-shared.txt"
    qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$work/host-a64/generate" models/tiny.egru "The " 40 > "$work/host-a64.txt"
    cmp "$work/host-x86.txt" "$work/host-x86-shared.txt" && cmp "$work/host-x86.txt" "$work/host-a64.txt"
    echo "examples/c with find_package(edgegru): x86-64 static and shared and aarch64 print the same"
    # pkg-config from the SDK.
    gcc -std=c99 examples/c/generate.c $(PKG_CONFIG_PATH="$sdk/lib/pkgconfig" pkg-config --cflags --libs --static edgegru) -o "$work/generate-pc"
    LD_LIBRARY_PATH="$sdk/lib/x86_64-linux" "$work/generate-pc" models/tiny.egru "The " 40 | cmp - "$work/host-x86.txt"
    echo "pkg-config from the SDK: the same"
'

step "fuzzing: each target 30 s on the stable toolchain (libFuzzer), from the kept corpus"
FUZZ_KEEP_CORPUS=1 bash scripts/fuzz.sh 30

step "all tests passed"
