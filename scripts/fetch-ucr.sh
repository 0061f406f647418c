#!/usr/bin/env bash
# Fetches the UCR/UEA datasets edgegru's sensor models are trained and
# tested on, from the sktime wheel on PyPI (which bundles them as .ts files):
# BasicMotions (accelerometer + gyroscope, 6 channels, 4 activities),
# JapaneseVowels (12 LPC channels, 9 speakers, variable length), and the
# regression problems Tecator (100-point NIR spectra -> fat content) and
# Covid3Month (84 days of cases -> the death rate). The wheel is only
# unpacked, never installed or imported.
#
#   bash scripts/fetch-ucr.sh [DIR]     # default DIR: target/ucr
#
# Leaves DIR/BasicMotions/BasicMotions_{TRAIN,TEST}.ts and the same for
# the others. Does nothing when they are already there.
set -euo pipefail
cd -P "$(dirname "$0")/.."
dir=${1:-target/ucr}
version=1.2.0
sets=(BasicMotions JapaneseVowels Tecator Covid3Month)
have=1
for s in "${sets[@]}"; do
    [ -f "$dir/$s/${s}_TRAIN.ts" ] && [ -f "$dir/$s/${s}_TEST.ts" ] || have=0
done
[ "$have" = 1 ] && exit 0
mkdir -p "$dir/wheel"
python3 -m pip download --quiet --no-deps --only-binary=:all: "sktime==$version" -d "$dir/wheel"
wheel=$(ls "$dir"/wheel/sktime-"$version"-*.whl | head -n 1)
python3 - "$wheel" "$dir" "${sets[@]}" <<'PY'
import os, sys, zipfile
wheel, out, sets = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for s in sets:
        for split in ("TRAIN", "TEST"):
            name = f"sktime/datasets/data/{s}/{s}_{split}.ts"
            os.makedirs(os.path.join(out, s), exist_ok=True)
            with z.open(name) as src, open(os.path.join(out, s, f"{s}_{split}.ts"), "wb") as dst:
                dst.write(src.read())
PY
echo "UCR/UEA datasets in $dir: ${sets[*]}"
