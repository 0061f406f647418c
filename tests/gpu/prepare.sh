#!/usr/bin/env bash
# Builds what tests/gpu/check.sh needs into target/gpu/, on a machine with
# Rust (the GPU machine may have none): the edgegru binary, the CUDA test
# binary (trainer/tests/cuda.rs) and a copy of the fortunes corpus.
set -euo pipefail
cd -P "$(dirname "$0")/../.."
out=target/gpu
mkdir -p "$out"
cargo build --release -p edgegru-trainer
tests=$(cargo test --release -p edgegru-trainer --test cuda --no-run --message-format=json \
    | python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "cuda" and m.get("executable"):
        print(m["executable"])')
install -m 755 target/release/edgegru "$out/edgegru"
install -m 755 "$tests" "$out/cuda-tests"
strip "$out/edgegru" "$out/cuda-tests"
rm -rf "$out/fortunes"
cp -r /usr/share/games/fortunes "$out/fortunes"
du -sh "$out"
