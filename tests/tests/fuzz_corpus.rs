//! Replays the fuzzers' corpora (`runtime/fuzz/corpus/TARGET`, grown by
//! `bash scripts/fuzz.sh`) through the same target bodies the fuzzers run:
//! every input that once reached new code stays a regression test.

#[path = "../../runtime/fuzz/src/lib.rs"]
#[allow(dead_code)]
mod targets;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime/fuzz/corpus").join(target);
    let mut inputs: Vec<_> =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())).map(|e| e.unwrap().path()).collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "{target}: a corpus of {} inputs; run scripts/fuzz.sh", inputs.len());
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| body(&data));
        assert!(result.is_ok(), "{target}: corpus input {} fails", path.display());
    }
    println!("{target}: {} corpus inputs replayed", inputs.len());
}

#[test]
fn loader_corpus_replays() {
    replay("load", targets::load);
}

#[test]
fn state_restore_corpus_replays() {
    replay("state", targets::state);
}

#[test]
fn tokenizer_corpus_replays() {
    replay("tokenizer", targets::tokenizer);
}
