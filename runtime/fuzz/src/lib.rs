//! The bodies of the fuzz targets, shared by the libFuzzer binaries
//! (`fuzz_targets/`) and by the corpus replay in the normal test run
//! (`tests/tests/fuzz_corpus.rs`). Each checks the runtime's promises on
//! arbitrary input, not only that nothing panics: a refused input changes
//! nothing, and what is accepted round-trips.

use std::sync::OnceLock;

use edgegru_runtime::format::{ARM_DSP_VERSION, FORMAT_VERSION, MAGIC};
use edgegru_runtime::{crc32::crc32, InputKind, Model, Rng, SamplingParams, Session};

/// The integer-only character model (a v1 file) the state and tokenizer targets use.
pub static CHAR_MODEL: &[u8] = include_bytes!("../../../models/tiny.egru");
/// A feature model (a v2 file).
pub static FEATURE_MODEL: &[u8] = include_bytes!("../../../models/basicmotions.egru");
/// The word model (Keras-style word tokenizer with OOV).
pub static WORD_MODEL: &[u8] = include_bytes!("../../../models/fortunes-word.egru");

/// A shipped model, loaded (and its CRC checked) once per process.
fn shipped(bytes: &'static [u8]) -> &'static Model<'static> {
    static LOADED: [OnceLock<Model<'static>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = [CHAR_MODEL, FEATURE_MODEL, WORD_MODEL].iter().position(|m| m.as_ptr() == bytes.as_ptr()).unwrap_or(0);
    LOADED[slot].get_or_init(|| Model::from_bytes(bytes).expect("a shipped model loads"))
}

/// The loader behind the checksum: `body` becomes the body of a file whose
/// prefix (magic, version from the first byte: odd 1, else 3 with bit 1
/// set, else 2; CRC-32) is valid, so every input reaches the decoder and the
/// validation. Whatever loads is run.
pub fn load(data: &[u8]) {
    let Some((&v, body)) = data.split_first() else { return };
    let version: u16 = match (v & 1, v & 2) {
        (1, _) => 1,
        (_, 2) => ARM_DSP_VERSION,
        _ => FORMAT_VERSION,
    };
    let mut file = Vec::with_capacity(body.len() + 10);
    file.extend_from_slice(&MAGIC);
    file.extend_from_slice(&version.to_le_bytes());
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
            let mut out = [0u8; 64];
            let _ = session.generate_into("a b", 4, &SamplingParams::default(), &mut Rng::new(0), &mut out);
        }
        InputKind::Features { count } => {
            let x: Vec<f32> = (0..count).map(|i| i as f32 * 0.5 - 1.0).collect();
            let _ = session.step_features(&x);
        }
    }
}

/// Saved-state restore. The first byte picks the model and whether the
/// input is taken as it is or as the values of a state whose header and
/// CRC are made valid (so the value checks are reached). A refused state
/// changes nothing; an accepted one saves back to the same bytes.
pub fn state(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let model = shipped(if mode & 2 == 0 { CHAR_MODEL } else { FEATURE_MODEL });
    let mut arena = vec![0u8; model.arena_size()];
    let mut session = Session::new(model, &mut arena).expect("the arena is the model's size");
    // A state from a few steps, computed once per model.
    static VALID: [OnceLock<Vec<u8>>; 2] = [OnceLock::new(), OnceLock::new()];
    let valid = VALID[usize::from(mode & 2 != 0)].get_or_init(|| {
        let mut arena = vec![0u8; model.arena_size()];
        let mut s = Session::new(model, &mut arena).expect("the arena is the model's size");
        match model.input() {
            InputKind::Tokens { .. } => {
                s.feed("The ").expect("the prompt encodes");
            }
            InputKind::Features { count } => {
                s.step_features(&vec![0.5; count]).expect("the feature count is the model's");
            }
        }
        let mut state = vec![0u8; s.state_size()];
        s.save_state(&mut state).expect("the buffer is the state size");
        state
    });
    session.restore_state(valid).expect("a saved state restores");
    let size = valid.len();
    let state = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        // The saved header, the fuzzed values, a valid CRC-32.
        let mut s = valid.clone();
        for (dst, &b) in s[12..size - 4].iter_mut().zip(rest) {
            *dst = b;
        }
        let crc = crc32(&s[..size - 4]);
        s[size - 4..].copy_from_slice(&crc.to_le_bytes());
        s
    };
    let before = session.hidden().to_vec();
    match session.restore_state(&state) {
        Ok(()) => {
            let mut again = vec![0u8; size];
            session.save_state(&mut again).expect("the buffer is the state size");
            assert_eq!(again, state, "an accepted state saves back to the same bytes");
        }
        Err(_) => {
            let mut after = vec![0u8; size];
            session.save_state(&mut after).expect("the buffer is the state size");
            assert_eq!(&after, valid, "a refused state changes nothing");
            assert_eq!(session.hidden(), &before[..]);
        }
    }
}

/// The tokenizers (character and word) on arbitrary text and token ids:
/// a failed call leaves the caller's buffer as it was; decoding writes
/// exactly the length it reports, as UTF-8; a character model's text
/// round-trips.
pub fn tokenizer(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let model = shipped(if mode & 1 == 0 { CHAR_MODEL } else { WORD_MODEL });
    let tok = model.tokenizer().expect("a token model");
    if let Ok(text) = core::str::from_utf8(rest) {
        let mut ids = [u32::MAX; 64];
        match tok.encode(text, &mut ids) {
            Ok(n) => {
                let ids = &ids[..n];
                let len = tok.decoded_len(ids).expect("encoded ids decode");
                let mut out = vec![0u8; len];
                assert_eq!(tok.decode(ids, &mut out), Ok(len));
                if mode & 1 == 0 {
                    assert_eq!(&out[..], text.as_bytes(), "a character model's text round-trips");
                }
            }
            Err(_) => assert!(ids.iter().all(|&i| i == u32::MAX), "a refused encode writes nothing"),
        }
    }
    let ids: Vec<u32> = rest.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) % 8192).collect();
    let cap = usize::from(mode >> 1);
    let mut out = vec![0xAAu8; cap];
    match tok.decode(&ids, &mut out) {
        Ok(n) => {
            assert_eq!(tok.decoded_len(&ids), Ok(n));
            assert!(core::str::from_utf8(&out[..n]).is_ok(), "decoded text is UTF-8");
        }
        Err(_) => assert!(out.iter().all(|&b| b == 0xAA), "a refused decode writes nothing"),
    }
}
