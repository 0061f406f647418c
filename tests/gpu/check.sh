#!/usr/bin/env bash
# The CUDA backend on a GPU machine: the parity tests (trainer/tests/cuda.rs,
# with a GPU required), then training throughput of `edgegru train --device
# cuda` next to PyTorch's cuDNN nn.GRU with the same shapes, in the same run,
# at config A and at a large config, f32 and bf16.
#
#   tests/gpu/check.sh                 # builds first when cargo is here
#   tests/gpu/prepare.sh (elsewhere), then carry target/gpu/ and run check.sh
#
# Needs: an NVIDIA driver (CUDA 13), NVRTC and cuBLAS 13 (toolkit, or the pip
# nvidia-* packages that PyTorch installs: found automatically), python3
# with torch. Writes the table to $OUT (default target/gpu/out) as well.
set -euo pipefail
cd -P "$(dirname "$0")/../.."
bin=target/gpu
out=${OUT:-$bin/out}
mkdir -p "$out"

if command -v cargo >/dev/null 2>&1; then
    bash tests/gpu/prepare.sh
fi
for f in edgegru cuda-tests; do
    [ -x "$bin/$f" ] || { echo "check.sh: $bin/$f is missing: run tests/gpu/prepare.sh on a machine with Rust and bring target/gpu here" >&2; exit 1; }
done
corpus=/usr/share/games/fortunes
[ -e "$corpus" ] || corpus=$bin/fortunes

# CUDA 13 libraries from PyPI's nvidia-* packages (PyTorch's dependencies).
nvlib=$(python3 -c 'import glob, os, site
dirs = set()
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    for so in glob.glob(os.path.join(sp, "nvidia", "**", "libnvrtc.so*"), recursive=True) + glob.glob(os.path.join(sp, "nvidia", "**", "libcublas.so*"), recursive=True):
        dirs.add(os.path.dirname(so))
print(":".join(sorted(dirs)))' 2>/dev/null || true)
export LD_LIBRARY_PATH="${nvlib}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

echo "== parity tests (GPU required)"
EDGEGRU_REQUIRE_GPU=1 EDGEGRU_REQUIRE_NVRTC=1 "$bin/cuda-tests" --test-threads=1

# tokens/s of an edgegru run: median of the history rows after the first (warm-up).
edgegru_tps() {
    python3 -c 'import json, statistics, sys
rows = json.load(open(sys.argv[1]))
print(round(statistics.median([r["tokens_per_sec"] for r in rows[1:]] or [rows[0]["tokens_per_sec"]])))' "$1/history.json"
}
torch_tps() {
    python3 -c 'import json, sys
print(json.loads(sys.stdin.read().strip().splitlines()[-1])["reports"][-1]["tokens_per_sec"])'
}

results=$out/gpu-check.tsv
printf 'config\tprecision\tedgegru tokens/s\tPyTorch cuDNN tokens/s\tratio\n' > "$results"
bench() { # name emb hidden dense batch seq steps precision
    local name=$1 emb=$2 hidden=$3 dense=$4 batch=$5 seq=$6 steps=$7 precision=$8
    local label="$name (emb $emb, hidden $hidden, dense $dense, batch $batch, seq $seq)"
    echo "== $label, $precision: edgegru"
    rm -rf "$out/run-$name-$precision"
    "$bin/edgegru" train --device cuda --precision "$precision" --corpus "$corpus" --out "$out/run-$name-$precision" \
        --emb "$emb" --hidden "$hidden" --dense "$dense" --batch "$batch" --seq-len "$seq" --steps "$steps" \
        --log-every $((steps / 8)) --checkpoint-every 0 | tail -n 3
    local ours theirs
    ours=$(edgegru_tps "$out/run-$name-$precision")
    echo "== $label: PyTorch cuDNN"
    theirs=$(python3 bench/peers/train_torch.py --device cuda --corpus "$corpus" --emb "$emb" --hidden "$hidden" --dense "$dense" \
        --batch "$batch" --seq-len "$seq" --steps "$steps" --skip-steps 10 | torch_tps)
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$precision" "$ours" "$theirs" "$(python3 -c "print(round($ours / $theirs, 2))")" >> "$results"
}
bench A 64 256 256 64 100 400 f32
bench large 128 1024 1024 256 100 60 f32
bench large 128 1024 1024 256 100 60 bf16
echo
column -t -s $'\t' "$results" 2>/dev/null || cat "$results"
