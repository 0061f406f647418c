//! Fuzzes saved-state restore (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgegru_runtime_fuzz::state(data));
