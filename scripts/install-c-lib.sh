#!/usr/bin/env bash
# Builds the C library and installs it under PREFIX: lib/libedgegru.a,
# lib/libedgegru.so, include/edgegru.h and lib/pkgconfig/edgegru.pc.
#   bash scripts/install-c-lib.sh /usr/local
set -euo pipefail
cd -P "$(dirname "$0")/.."
prefix="${1:?usage: install-c-lib.sh PREFIX}"
cargo build --release -p edgegru-ffi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
mkdir -p "$prefix/lib/pkgconfig" "$prefix/include"
cp target/release/libedgegru.a target/release/libedgegru.so "$prefix/lib/"
cp ffi/include/edgegru.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" ffi/edgegru.pc.in > "$prefix/lib/pkgconfig/edgegru.pc"
echo "installed edgegru $version under $prefix"
