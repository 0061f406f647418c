//! Fuzzes the model loader behind the checksum (see `src/lib.rs`).
//! `bash scripts/fuzz.sh` builds and runs it on the stable toolchain.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgegru_runtime_fuzz::load(data));
