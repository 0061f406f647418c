//! Version-1 files run as they did before format version 2 existed: the
//! version-1 models (`fortunes-char` as shipped, `tiny` as it shipped
//! before its row tables (format version 5), and the dense word model
//! shipped before `fortunes-word` became block-sparse, the last two kept in
//! `tests/fixtures/v1/`) give, through the `edgegru` command, exactly the
//! text and the held-out evaluation that the last version-1 build printed
//! (`tests/fixtures/v1/`, captured from that build with the same commands);
//! and the shipped `tiny`, that file rewritten as version 6, gives the same
//! text. Needs the `fortunes` package for the evaluation.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn edgegru(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru")).args(args).current_dir(root()).output().unwrap();
    assert!(out.status.success(), "edgegru {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Where version-1 model `name` is: the shipped file, or the version-1
/// file kept beside the fixtures.
fn model_path(name: &str) -> String {
    match name {
        "fortunes-word" | "tiny" => format!("tests/fixtures/v1/{name}.egru"),
        _ => format!("models/{name}.egru"),
    }
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/fixtures/v1").join(name)).unwrap()
}

#[test]
fn shipped_version_1_models_generate_the_text_of_the_version_1_build() {
    let prompt = "The meaning of life is";
    let cases: [(&str, &[&str]); 4] = [
        ("fortunes-char.greedy.txt", &["--model", "models/fortunes-char.egru", "--greedy", "--max-tokens", "200"]),
        (
            "fortunes-char.sampled.txt",
            &["--model", "models/fortunes-char.egru", "--temperature", "0.8", "--top-k", "40", "--seed", "7", "--max-tokens", "200"],
        ),
        ("tiny.greedy.txt", &["--model", "tests/fixtures/v1/tiny.egru", "--greedy", "--max-tokens", "200"]),
        (
            "tiny.sampled.txt",
            &["--model", "tests/fixtures/v1/tiny.egru", "--temperature", "0.8", "--top-p", "0.9", "--seed", "3", "--max-tokens", "200"],
        ),
    ];
    for (name, args) in cases {
        let mut all = vec!["generate", "--prompt", prompt];
        all.extend_from_slice(args);
        assert_eq!(edgegru(&all), fixture(name), "{name}");
        // The shipped tiny is the version-1 file with (aligned) row tables (version 6): the same text.
        if let Some(at) = all.iter().position(|a| *a == "tests/fixtures/v1/tiny.egru") {
            all[at] = "models/tiny.egru";
            assert_eq!(edgegru(&all), fixture(name), "{name}, the shipped (version 6) tiny");
        }
    }
    // The version-1 build's greedy word decoding could pick <OOV>; with
    // --allow-oov the argmax sequence is the same.
    let words = edgegru(&[
        "generate",
        "--model",
        "tests/fixtures/v1/fortunes-word.egru",
        "--prompt",
        "the meaning of life is",
        "--greedy",
        "--allow-oov",
        "--max-tokens",
        "100",
    ]);
    assert_eq!(words, fixture("fortunes-word.greedy.txt"));
}

#[test]
fn shipped_version_1_models_evaluate_as_in_the_version_1_build() {
    let expected = fixture("eval.txt");
    for line in expected.lines() {
        let (name, json) = line.split_once(' ').unwrap();
        let want: serde_json::Value = serde_json::from_str(json).unwrap();
        let got: serde_json::Value =
            serde_json::from_str(&edgegru(&["eval", "--model", &model_path(name), "--corpus", "/usr/share/games/fortunes", "--json"]))
                .unwrap();
        for key in ["loss", "accuracy", "tokens"] {
            assert_eq!(got[key], want[key], "{name}: {key}");
        }
    }
}
