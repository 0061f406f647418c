//! Fuzzes the character and word tokenizers (see `src/lib.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| edgegru_runtime_fuzz::tokenizer(data));
