//! Fuzzes the model parser behind the checksum: the input becomes the body of
//! a file whose prefix (magic, version, CRC-32) is made valid, so every input
//! reaches the postcard decoder and the validation. Whatever loads is run.
//!
//! `cargo +nightly fuzz run load` from `runtime/` (see FORMAT.md).
#![no_main]

use edgegru_runtime::format::{FORMAT_VERSION, MAGIC};
use edgegru_runtime::{crc32::crc32, InputKind, Model, Rng, SamplingParams, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut file = Vec::with_capacity(body.len() + 10);
    file.extend_from_slice(&MAGIC);
    file.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    file.extend_from_slice(&crc32(body).to_le_bytes());
    file.extend_from_slice(body);
    let Ok(model) = Model::from_bytes(&file) else { return };
    if model.arena_size() > 1 << 24 {
        return;
    }
    let mut arena = vec![0u8; model.arena_size()];
    let Ok(mut session) = Session::new(&model, &mut arena) else { return };
    match model.input() {
        InputKind::Tokens { vocab, .. } => {
            for t in 0..vocab.min(3) {
                let _ = session.step(t as u32);
            }
        }
        InputKind::Features { count } => {
            let x: Vec<f32> = (0..count).map(|i| i as f32 * 0.5 - 1.0).collect();
            let _ = session.step_features(&x);
        }
    }
    let mut out = [0u8; 64];
    let _ = session.generate_into("a b", 4, &SamplingParams::default(), &mut Rng::new(0), &mut out);
});
