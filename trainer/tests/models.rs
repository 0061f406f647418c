//! The shipped models: each loads, its held-out loss on Debian's fortunes
//! matches its model card within 1% (the `.egru` file natively, the float
//! `.onnx` step graph on tract), and every command in its card is accepted by
//! the command line. Needs the `fortunes` package (the test
//! command installs it); without it this test fails rather than skip.

use std::path::Path;

use edgegru_runtime::Model;
use edgegru_trainer::backend::Backend;
use edgegru_trainer::data::{read_corpus, Utf8Policy};
use edgegru_trainer::evaluate::{evaluate, evaluate_text};

const CORPUS: &str = "/usr/share/games/fortunes";
const SHIPPED: [&str; 3] = ["fortunes-char", "fortunes-word", "tiny"];

fn models_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../models"))
}

/// The number in the card's table row that starts with `label`.
fn card_value(card: &str, label: &str) -> f64 {
    let row = card.lines().find(|l| l.starts_with(&format!("| {label} |"))).unwrap_or_else(|| panic!("card has no row {label:?}"));
    row.split('|')
        .nth(2)
        .and_then(|c| c.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad row {row:?}"))
}

/// Command lines in the card's shell blocks.
fn card_commands(card: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in card.lines() {
        if line.starts_with("```") {
            in_block = line.starts_with("```sh") && !in_block;
            continue;
        }
        if in_block && line.trim_start().starts_with("edgegru ") {
            out.push(line.split_whitespace().map(str::to_string).collect());
        }
    }
    out
}

#[test]
fn shipped_models_load_match_their_cards_and_their_commands_parse() {
    let text = read_corpus(Path::new(CORPUS), Utf8Policy::Strict).expect("the fortunes corpus (apt-get install fortunes)");
    for name in SHIPPED {
        let bytes = std::fs::read(models_dir().join(format!("{name}.egru"))).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let card = std::fs::read_to_string(models_dir().join(format!("{name}.md"))).unwrap();
        assert_eq!(card_value(&card, "file size, bytes") as usize, bytes.len(), "{name}: card file size");
        assert_eq!(card_value(&card, "arena, bytes") as usize, model.arena_size(), "{name}: card arena size");
        let want = card_value(&card, "held-out loss, shipped file");
        let got = evaluate(&bytes, &text, 0.1).unwrap().loss;
        assert!(((got - want) / want).abs() < 0.01, "{name}: held-out loss {got:.4}, card says {want:.4}");
        // The float ONNX step graph, run by tract, has the f32 checkpoint's loss.
        let onnx = std::fs::read(models_dir().join(format!("{name}.onnx"))).unwrap();
        assert_eq!(card_value(&card, &format!("ONNX step graph (float, `{name}.onnx`), bytes")) as usize, onnx.len(), "{name}: ONNX size");
        let want = card_value(&card, "held-out loss, f32 checkpoint");
        let got = evaluate_text(Backend::Tract, &onnx, &text, 0.1, false).unwrap().loss;
        assert!(((got - want) / want).abs() < 0.01, "{name}.onnx on tract: held-out loss {got:.4}, card says {want:.4}");
        let commands = card_commands(&card);
        assert!(commands.len() >= 2, "{name}: card has no reproduction commands");
        for cmd in commands {
            edgegru_trainer::cli::check_args(&cmd).unwrap_or_else(|e| panic!("{name}: card command {cmd:?} is refused: {e}"));
        }
    }
    assert_eq!(edgegru_trainer::builtin::DEFAULT_MODEL, &std::fs::read(models_dir().join("fortunes-char.egru")).unwrap()[..]);
}

/// The UCR/UEA datasets (`bash scripts/fetch-ucr.sh`, which the test command
/// runs; `EDGEGRU_UCR_DIR` points elsewhere). Missing data fails the test.
fn ucr_dir() -> std::path::PathBuf {
    std::env::var_os("EDGEGRU_UCR_DIR").map_or_else(|| models_dir().join("../target/ucr"), Into::into)
}

/// The sensor/audio classifiers: the shipped file's test accuracy is the
/// card's (the runtime is deterministic, so exactly), it reaches the target
/// of its data set, int8 stays within one percentage point of the f32
/// checkpoint, and the float ONNX step graph on tract gives the f32 accuracy.
#[test]
fn shipped_classifiers_reach_their_accuracy_on_the_test_split() {
    use edgegru_trainer::data::{Columns, LabelKind};
    use edgegru_trainer::evaluate::{evaluate_sequences, read_for_model};
    for (name, set, target) in [("basicmotions", "BasicMotions", 0.95), ("japanesevowels", "JapaneseVowels", 0.97)] {
        let test = ucr_dir().join(set).join(format!("{set}_TEST.ts"));
        assert!(test.exists(), "{} is missing: run `bash scripts/fetch-ucr.sh`", test.display());
        let bytes = std::fs::read(models_dir().join(format!("{name}.egru"))).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let card = std::fs::read_to_string(models_dir().join(format!("{name}.md"))).unwrap();
        assert_eq!(card_value(&card, "file size, bytes") as usize, bytes.len(), "{name}: card file size");
        assert_eq!(card_value(&card, "arena, bytes") as usize, model.arena_size(), "{name}: card arena size");
        let (seqs, notes) = read_for_model(&bytes, &test, LabelKind::Classes, &Columns::default()).unwrap();
        assert!(notes.is_empty(), "{notes:?}");
        let r = evaluate_sequences(Backend::Native, &bytes, &seqs).unwrap();
        let want = card_value(&card, "test accuracy, shipped file");
        assert!((r.accuracy - want).abs() < 5e-5, "{name}: test accuracy {:.4}, card says {want:.4}", r.accuracy);
        assert!(r.accuracy >= target, "{name}: test accuracy {:.4} is below the target {target}", r.accuracy);
        let float = card_value(&card, "test accuracy, f32 checkpoint");
        assert!(float - r.accuracy <= 0.01 + 1e-9, "{name}: int8 {:.4} vs f32 {float:.4}", r.accuracy);
        let onnx = std::fs::read(models_dir().join(format!("{name}.onnx"))).unwrap();
        assert_eq!(card_value(&card, &format!("ONNX step graph (float, `{name}.onnx`), bytes")) as usize, onnx.len(), "{name}: ONNX size");
        let on_tract = evaluate_sequences(Backend::Tract, &onnx, &seqs).unwrap();
        assert!((on_tract.accuracy - float).abs() < 5e-5, "{name}.onnx on tract: {:.4}, card's f32 {float:.4}", on_tract.accuracy);
        for cmd in card_commands(&card) {
            edgegru_trainer::cli::check_args(&cmd).unwrap_or_else(|e| panic!("{name}: card command {cmd:?} is refused: {e}"));
        }
    }
}
