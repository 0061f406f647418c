//! Training runs as a user relies on them: resume equals an uninterrupted
//! run, divergence stops cleanly, history files read back, the CLI reports
//! bad input with exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use edgegru_trainer::checkpoint::Checkpoint;
use edgegru_trainer::config::{Task, TokenizerChoice, TrainConfig};
use edgegru_trainer::data::WindowOffsets;
use edgegru_trainer::engine::{Device, Precision, Regularization};
use edgegru_trainer::history::{read_scalars, Record};
use edgegru_trainer::network::NetSpec;
use edgegru_trainer::optim::{Decay, OptimizerConfig};
use edgegru_trainer::params::{EmbeddingInit, LayerInit};
use edgegru_trainer::run::{self as train, Plan, Progress};

struct Quiet;
impl Progress for Quiet {
    fn start(&mut self, _: &NetSpec, _: &TrainConfig, _: &Plan) {}
    fn step(&mut self, _: u64, _: Option<u64>, _: f64, _: f64, _: Option<f64>) {}
    fn record(&mut self, _: &Record) {}
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgegru-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn corpus(dir: &Path) -> PathBuf {
    let text = "the quick brown fox jumps over the lazy dog. a stitch in time saves nine.\n".repeat(40);
    let p = dir.join("corpus.txt");
    std::fs::write(&p, text).unwrap();
    p
}

fn config(corpus: PathBuf, steps: u64) -> TrainConfig {
    TrainConfig {
        corpus,
        task: Task::Lm,
        val_data: None,
        lossy: false,
        tokenizer: TokenizerChoice::Char,
        num_words: 100,
        emb: 8,
        hidden: vec![24],
        dense: 16,
        seq_len: 16,
        batch: 4,
        epochs: None,
        steps: Some(steps),
        minutes: None,
        optimizer: OptimizerConfig { lr: 1e-2, ..OptimizerConfig::default() },
        regularization: Regularization { dropout: vec![0.1], recurrent_dropout: vec![0.1], l1: 0.0, l2: 1e-5 },
        val_split: 0.1,
        seed: 7,
        threads: 1,
        checkpoint_every: 0,
        log_every: 5,
        prune: None,
        patience: None,
        device: Device::Cpu,
        precision: Precision::F32,
        embedding_init: EmbeddingInit::Keras,
        layer_init: LayerInit::Keras,
        shards: 2,
        columns: Default::default(),
        fill: Default::default(),
        window_offsets: WindowOffsets::Random,
        data_fingerprint: None,
    }
}

fn never() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[test]
fn resumed_run_equals_an_uninterrupted_one() {
    let dir = temp_dir("resume");
    let c = corpus(&dir);
    let full = train::train(config(c.clone(), 30), &dir.join("full"), None, never(), &mut Quiet).unwrap();
    let first = train::train(config(c.clone(), 12), &dir.join("split"), None, never(), &mut Quiet).unwrap();
    let ck = Checkpoint::load(&dir.join("split")).unwrap();
    assert_eq!(ck.optimizer.step, 12);
    let second = train::train(config(c, 30), &dir.join("split"), Some(ck), never(), &mut Quiet).unwrap();
    let resumed: Vec<f64> = first.losses.iter().chain(&second.losses).copied().collect();
    assert_eq!(resumed, full.losses, "loss sequences differ");
    let (a, b) = (Checkpoint::load(&dir.join("full")).unwrap(), Checkpoint::load(&dir.join("split")).unwrap());
    assert_eq!(a.params, b.params);
    assert_eq!(a.optimizer, b.optimizer);
    assert!(full.losses[29] < full.losses[0], "loss did not fall: {:?}", full.losses);
    // The history of the resumed run has no duplicate steps.
    let history: Vec<Record> = serde_json::from_slice(&std::fs::read(dir.join("split/history.json")).unwrap()).unwrap();
    let steps: Vec<u64> = history.iter().map(|r| r.step).collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_stops_with_a_message_and_keeps_the_last_good_checkpoint() {
    let dir = temp_dir("nan");
    let mut cfg = config(corpus(&dir), 200);
    cfg.optimizer = OptimizerConfig { lr: 10.0, clip: 0.0, ..OptimizerConfig::default() };
    cfg.checkpoint_every = 1;
    let err = train::train(cfg, &dir.join("run"), None, never(), &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("diverged at step"), "{err}");
    assert!(err.contains("last good checkpoint"), "{err}");
    let ck = Checkpoint::load(&dir.join("run")).unwrap();
    assert!(ck.params.data.iter().all(|x| x.is_finite()), "the kept checkpoint must be a good one");
    // Without a checkpoint written yet, the message does not promise one.
    let mut cfg = config(corpus(&dir), 200);
    cfg.optimizer = OptimizerConfig { lr: 10.0, clip: 0.0, ..OptimizerConfig::default() };
    cfg.checkpoint_every = 0;
    let err = train::train(cfg, &dir.join("run0"), None, never(), &mut Quiet).unwrap_err().to_string();
    assert!(err.contains("no checkpoint was written yet") && !err.contains("is kept"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With only `--minutes`, a decay schedule runs over the time limit: the
/// learning rate falls from the peak towards --min-lr as the time runs out.
#[test]
fn a_time_limited_run_decays_its_learning_rate_over_the_limit() {
    let dir = temp_dir("time-decay");
    let mut cfg = config(corpus(&dir), 0);
    cfg.steps = None;
    cfg.minutes = Some(3.0 / 60.0);
    cfg.log_every = 1;
    cfg.optimizer.decay = Decay::Cosine;
    cfg.optimizer.min_lr = 1e-4;
    train::train(cfg, &dir.join("run"), None, never(), &mut Quiet).unwrap();
    let csv = std::fs::read_to_string(dir.join("run").join("history.csv")).unwrap();
    let lrs: Vec<f64> = csv.lines().skip(1).map(|l| l.split(',').nth(7).unwrap().parse().unwrap()).collect();
    assert!(lrs.len() > 40, "too few steps in 3 s to see the schedule: {}", lrs.len());
    let quarter = lrs.len() / 4;
    let late_max = lrs[lrs.len() - quarter..].iter().cloned().fold(0.0, f64::max);
    assert!(lrs[0] > 9e-3 && late_max < lrs[lrs.len() / 2] && lrs[lrs.len() / 2] < lrs[0], "the rate should fall: {lrs:?}");
    let last = *lrs.last().unwrap();
    assert!((1e-4..5e-3).contains(&last), "the rate should end near --min-lr, not at the peak 1e-2: {last}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn history_files_and_tensorboard_events_read_back() {
    let dir = temp_dir("history");
    let mut cfg = config(corpus(&dir), 20);
    cfg.checkpoint_every = 10;
    train::train(cfg, &dir.join("run"), None, never(), &mut Quiet).unwrap();
    let run = dir.join("run");
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert!(csv.starts_with("step,epoch,loss,accuracy,val_loss,val_accuracy,perplexity,lr"));
    assert_eq!(csv.lines().count(), 1 + 4, "{csv}");
    assert!(std::fs::read_to_string(run.join("loss.svg")).unwrap().contains("<polyline"));
    let tb = std::fs::read_dir(run.join("tensorboard")).unwrap().next().unwrap().unwrap().path();
    let scalars = read_scalars(&std::fs::read(tb).unwrap()).unwrap();
    assert!(scalars.iter().any(|(s, t, v)| *s == 20 && t == "val_loss" && v.is_finite()));
    assert_eq!(scalars.iter().filter(|(_, t, _)| t == "loss").count(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn edgegru(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn cli_trains_evaluates_exports_and_generates() {
    let dir = temp_dir("cli");
    let c = corpus(&dir);
    let run = dir.join("run");
    let (code, out, err) = edgegru(&[
        "train",
        "--corpus",
        c.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--emb",
        "8",
        "--hidden",
        "16",
        "--dense",
        "16",
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--steps",
        "15",
        "--threads",
        "1",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Total params:") && out.contains("gru (GRU)"), "{out}");
    let (code, out, _) = edgegru(&["eval", "--checkpoint", run.to_str().unwrap(), "--corpus", c.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for key in ["loss", "perplexity", "accuracy", "precision", "recall", "f1"] {
        assert!(v[key].as_f64().is_some_and(f64::is_finite), "{key} missing in {out}");
    }
    let model = dir.join("m.egru");
    let (code, _, err) = edgegru(&["export", "--checkpoint", run.to_str().unwrap(), "--weights", "int8", "--out", model.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = edgegru(&["inspect", model.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("hybrid int8") && out.contains("gru0.recurrent"), "{out}");
    for (weights, dequantize_nodes) in [("f32", 0), ("int8", 5)] {
        let onnx_file = dir.join(format!("m-{weights}.onnx"));
        let path = onnx_file.to_str().unwrap();
        let (code, _, err) =
            edgegru(&["export", "--checkpoint", run.to_str().unwrap(), "--weights", weights, "--format", "onnx", "--out", path]);
        assert_eq!(code, 0, "{err}");
        let graph = edgegru_onnx::decode(&std::fs::read(&onnx_file).unwrap()).unwrap().graph.unwrap();
        assert_eq!(graph.node.iter().filter(|n| n.op_type == "DequantizeLinear").count(), dequantize_nodes, "{weights}");
    }
    for refused in [["--weights", "f16", ""], ["--weights", "int8", "--sparse"], ["--weights", "f32", "--sparse"]] {
        let mut args = vec!["export", "--checkpoint", run.to_str().unwrap(), "--format", "onnx", "--out", "x.onnx"];
        args.extend(refused.iter().filter(|a| !a.is_empty()));
        let (code, _, err) = edgegru(&args);
        assert!(code == 1 && err.starts_with("error:"), "{args:?}: {err}");
    }
    let (code, out, _) =
        edgegru(&["generate", "--model", model.to_str().unwrap(), "--prompt", "the ", "--max-tokens", "30", "--seed", "3"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim_end_matches('\n').chars().count(), 4 + 30, "{out:?}");
    let (code, out2, _) =
        edgegru(&["generate", "--model", model.to_str().unwrap(), "--prompt", "the ", "--max-tokens", "30", "--seed", "3"]);
    assert_eq!((code, &out2), (0, &out), "same seed, same text");
    cli_relays_out_a_model(&dir, &model, run.to_str().unwrap(), &out);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `export --model --layout`: the arm-dsp layout of an exported model, the
/// same text; the flags that would re-encode, and writing over the input, refused.
fn cli_relays_out_a_model(dir: &std::path::Path, model: &std::path::Path, run: &str, text: &str) {
    let (m, dsp, back) = (model.to_str().unwrap(), dir.join("m-dsp.egru"), dir.join("m-back.egru"));
    let (code, out, err) = edgegru(&["export", "--model", m, "--layout", "arm-dsp", "--out", dsp.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("arm-dsp layout"), "{out}");
    let (code, out, _) = edgegru(&["inspect", dsp.to_str().unwrap()]);
    assert!(code == 0 && out.contains("format version 3") && out.contains("int8-arm-dsp"), "{out}");
    let (code, out, _) = edgegru(&["generate", "--model", dsp.to_str().unwrap(), "--prompt", "the ", "--max-tokens", "30", "--seed", "3"]);
    assert_eq!((code, out.as_str()), (0, text), "the arm-dsp layout generates the same text");
    let (code, _, err) = edgegru(&["export", "--model", dsp.to_str().unwrap(), "--layout", "portable", "--out", back.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&back).unwrap(), std::fs::read(model).unwrap(), "back to the portable layout, byte for byte");
    let before = std::fs::read(model).unwrap();
    for args in [
        vec!["export", "--model", m, "--layout", "arm-dsp", "--out", m, "--force"],
        vec!["export", "--model", m, "--weights", "f32", "--out", "x.egru"],
        vec!["export", "--model", m, "--checkpoint", run, "--out", "x.egru"],
        vec!["export", "--model", m, "--layout", "arm-dsp", "--out", dsp.to_str().unwrap()],
        vec!["export", "--checkpoint", run, "--weights", "f32", "--layout", "arm-dsp", "--out", "x.egru"],
    ] {
        let (code, _, err) = edgegru(&args);
        assert!(code != 0 && err.starts_with("error"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(model).unwrap(), before, "a refused command leaves the model as it was");
    // An .egru file's ONNX step graph: what tract runs for the .egru file itself.
    let onnx = dir.join("m.onnx");
    let (code, _, err) = edgegru(&["export", "--model", m, "--format", "onnx", "--weights", "f32", "--out", onnx.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let greedy = |model: &str, backend: &str| {
        edgegru(&["generate", "--model", model, "--backend", backend, "--prompt", "the ", "--greedy", "--max-tokens", "30"])
    };
    let (code, text, _) = greedy(onnx.to_str().unwrap(), "tract");
    assert_eq!(code, 0);
    assert_eq!(text, greedy(m, "tract").1, "the exported graph is the one --backend tract runs for the .egru file");
    let f32_model = dir.join("m-f32.egru");
    let (code, _, err) = edgegru(&["export", "--checkpoint", run, "--weights", "f32", "--out", f32_model.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = edgegru(&["export", "--model", f32_model.to_str().unwrap(), "--layout", "arm-dsp", "--out", "x.egru"]);
    assert!(code == 1 && err.contains("int8"), "{err}");
}

#[test]
fn cli_bad_input_is_exit_code_1_with_one_line() {
    let dir = temp_dir("bad");
    let bad = dir.join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9 au lait").unwrap();
    let (code, _, err) = edgegru(&["train", "--corpus", bad.to_str().unwrap(), "--out", dir.join("r").to_str().unwrap(), "--steps", "1"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("error: ") && err.contains("latin1.txt") && err.contains("offset 3") && err.trim().lines().count() == 1,
        "{err}"
    );
    let junk = dir.join("junk.egru");
    std::fs::write(&junk, b"EGRU\x01\x00garbage").unwrap();
    for args in [
        vec!["inspect", junk.to_str().unwrap()],
        vec!["generate", "--model", junk.to_str().unwrap(), "--prompt", "x"],
        vec!["eval", "--checkpoint", dir.to_str().unwrap(), "--corpus", bad.to_str().unwrap()],
        vec!["train", "--corpus", bad.to_str().unwrap(), "--out", "x"],
        vec!["export", "--checkpoint", "/nonexistent", "--out", "x"],
        vec!["generate", "--model", junk.to_str().unwrap(), "--prompt", "x", "--temperature", "-1"],
    ] {
        let (code, _, err) = edgegru(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.starts_with("error:"), "{args:?}: {err}");
    }
    let (code, out, _) = edgegru(&["train", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("Examples:"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_and_sigterm_write_a_checkpoint_and_exit_130() {
    for signal in ["-INT", "-TERM"] {
        stop_with(signal);
    }
}

fn stop_with(signal: &str) {
    let dir = temp_dir(&format!("signal{signal}"));
    let c = corpus(&dir);
    let run = dir.join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["train", "--corpus", c.to_str().unwrap(), "--out", run.to_str().unwrap(), "--emb", "8", "--hidden", "16", "--dense", "16"])
        .args(["--seq-len", "16", "--batch", "4", "--steps", "100000000", "--threads", "1", "--checkpoint-every", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    interrupt(child, &run, signal);
    let ck = Checkpoint::load(&run).unwrap();
    assert!(ck.optimizer.step > 0);
    // Pruning and the pipeline stop the same way.
    let pruned = dir.join("pruned");
    let child = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["prune", "--checkpoint", run.to_str().unwrap(), "--out", pruned.to_str().unwrap(), "--prune-to", "0.5"])
        .args(["--steps", "100000000"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    interrupt(child, &pruned, signal);
    let pipeline = dir.join("pipeline");
    let child = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["pipeline", "--corpus", c.to_str().unwrap(), "--out", pipeline.to_str().unwrap(), "--config", "t"])
        .args(["--batch", "4", "--seq-len", "16", "--steps", "20000", "--threads", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    interrupt(child, &pipeline.join("run"), signal);
    // `--resume --out` alone continues it with the settings it was started with.
    let (code, _, err) = edgegru(&["pipeline", "--resume", "--out", pipeline.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(edgegru_runtime::Model::from_bytes(&std::fs::read(pipeline.join("model.egru")).unwrap()).is_ok());
    assert_eq!(Checkpoint::load(&pipeline.join("run")).unwrap().optimizer.step, 20000);
    // A new pipeline into the same folder is refused without --force.
    let (code, out, err) = edgegru(&["pipeline", "--corpus", c.to_str().unwrap(), "--out", pipeline.to_str().unwrap(), "--steps", "5"]);
    assert!(code == 1 && err.contains("--force") && out.is_empty(), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Waits until the run in `run` is under way, sends `signal`, and requires
/// exit 130 with the interruption reported.
fn interrupt(child: std::process::Child, run: &std::path::Path, signal: &str) {
    // Wait until training is under way (the history file appears at the first record).
    let started = std::time::Instant::now();
    while !run.join("history.csv").exists() {
        assert!(started.elapsed().as_secs() < 60, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{signal}: an interrupted run exits 130: {stdout}");
    assert!(stdout.contains("interrupted at step"), "{stdout}");
}

#[test]
fn pipeline_goes_from_corpus_to_verified_device_files() {
    let dir = temp_dir("pipeline");
    let c = corpus(&dir);
    let out = dir.join("out");
    let args = [
        "pipeline",
        "--corpus",
        c.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--config",
        "t",
        "--steps",
        "40",
        "--batch",
        "8",
        "--seq-len",
        "32",
    ];
    // --batch and --seq-len: config T's batches (64 windows of 64 characters) are larger than this corpus.
    let (code, stdout, err) = edgegru(&[&args[..], &["--prune-to", "0.5", "--threads", "1"]].concat());
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("| model.egru: int8 block-sparse, integer-only |"), "{stdout}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["train_steps"], 40);
    assert_eq!(summary["prune_steps"], 20);
    assert!((summary["sparsity"].as_f64().unwrap() - 0.5).abs() < 0.05, "{summary}");
    assert_eq!(summary["stages"].as_array().unwrap().len(), 3, "trained f32, pruned f32, shipped");
    assert_eq!(summary["parity"]["identical"], true);
    assert!(summary["parity"]["max_logit_diff"].as_f64().unwrap() < 1e-4);
    // The files it reports are the files it wrote, and they run.
    let egru = std::fs::read(out.join("model.egru")).unwrap();
    assert_eq!(summary["egru_bytes"].as_u64().unwrap() as usize, egru.len());
    let model = edgegru_runtime::Model::from_bytes(&egru).unwrap();
    assert_eq!(summary["arena_bytes"].as_u64().unwrap() as usize, model.arena_size());
    assert!(matches!(model.numerics(), edgegru_runtime::format::Numerics::Integer { .. }));
    let shipped_loss = summary["stages"][2]["held_out"]["loss"].as_f64().unwrap();
    let (code, eval, _) =
        edgegru(&["eval", "--model", out.join("model.egru").to_str().unwrap(), "--corpus", c.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let eval: serde_json::Value = serde_json::from_str(eval.trim()).unwrap();
    assert!((eval["loss"].as_f64().unwrap() - shipped_loss).abs() < 1e-9, "{eval} vs {shipped_loss}");
    assert!(out.join("model.onnx").is_file() && out.join("summary.md").is_file() && out.join("run-pruned").is_dir());
    // Bad settings are refused before any training.
    let (code, _, err) = edgegru(&[&args[..], &["--prune-to", "1.5"]].concat());
    assert!(code == 1 && err.contains("--prune-to"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_imports_a_pytorch_model_and_runs_it() {
    let dir = temp_dir("import");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let (onnx, vocab) = (fixtures.join("torch_batch_first.onnx"), fixtures.join("torch_batch_first.vocab.json"));
    let out = dir.join("lm.egru");
    let (code, stdout, err) = edgegru(&[
        "import",
        "--onnx",
        onnx.to_str().unwrap(),
        "--vocab",
        vocab.to_str().unwrap(),
        "--weights",
        "int8",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(stdout.contains("5 inputs -> GRU 7 -> dense 6 relu -> 12 outputs"), "{stdout}");
    // It says which tokenizer rules it applies, and checks the f32 import
    // against the source file's own graph (ONNX Runtime, or tract without
    // it) and the int8 file against the f32 import.
    assert!(stdout.contains("tokenizer: characters, 12 tokens, lower-case false, padding none, OOV none"), "{stdout}");
    assert!(stdout.contains("verification, 64 greedy tokens after"), "{stdout}");
    assert!(stdout.contains("| f32 import vs the source file (") && stdout.contains("): greedy tokens equal | 64/64 |"), "{stdout}");
    assert!(stdout.contains("| written file vs f32 import: greedy tokens equal |"), "{stdout}");
    let (code, text, _) = edgegru(&["generate", "--model", out.to_str().unwrap(), "--prompt", "abc", "--max-tokens", "10", "--greedy"]);
    assert_eq!(code, 0);
    assert_eq!(text.trim_end_matches('\n').chars().count(), 13, "{text:?}");
    // A Keras file (legacy HDF5) imports the same way; the verification says
    // why it cannot run the source itself.
    let (keras, keras_vocab) = (fixtures.join("keras_source.h5"), fixtures.join("keras_source.vocab.json"));
    let keras_out = dir.join("keras.egru");
    let (code, stdout, err) = edgegru(&[
        "import",
        "--keras",
        keras.to_str().unwrap(),
        "--vocab",
        keras_vocab.to_str().unwrap(),
        "--out",
        keras_out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{err}");
    assert!(
        stdout.contains("8 inputs -> GRU 16 -> dense 16 relu -> 20 outputs") && stdout.contains("the source is a Keras file"),
        "{stdout}"
    );
    // The user's own ONNX file runs as it is on tract (`--vocab` gives its
    // tokenizer): the greedy text of its f32 import.
    let f32_out = dir.join("lm-f32.egru");
    let (code, _, err) =
        edgegru(&["import", "--onnx", onnx.to_str().unwrap(), "--vocab", vocab.to_str().unwrap(), "--out", f32_out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let greedy = |model: &str, extra: &[&str]| {
        let args = [&["generate", "--model", model, "--prompt", "abc", "--max-tokens", "12", "--greedy"][..], extra].concat();
        edgegru(&args)
    };
    let (code, native, _) = greedy(f32_out.to_str().unwrap(), &[]);
    assert_eq!(code, 0);
    let (code, tract, err) = greedy(onnx.to_str().unwrap(), &["--vocab", vocab.to_str().unwrap(), "--backend", "tract"]);
    assert_eq!((code, &tract), (0, &native), "{err}");
    // A vocabulary of the wrong size, and a file that is not ONNX, are one-line errors.
    std::fs::write(dir.join("v.json"), r#"["a", "b"]"#).unwrap();
    let (code, _, err) =
        edgegru(&["import", "--onnx", onnx.to_str().unwrap(), "--vocab", dir.join("v.json").to_str().unwrap(), "--out", "x.egru"]);
    assert!(code == 1 && err.contains("2 tokens but the model has 12"), "{err}");
    let (code, _, err) = edgegru(&["import", "--onnx", vocab.to_str().unwrap(), "--vocab", vocab.to_str().unwrap(), "--out", "x.egru"]);
    assert!(code == 1 && err.starts_with("error:"), "{err}");
    assert!(!Path::new("x.egru").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The command line's promises to a stranger: nothing a user types destroys
/// earlier work, impossible sizes and settings are refused before anything
/// is allocated or written, a closed pipe is not an error, an error leaves
/// stdout empty, and history.csv's header names every column.
#[test]
fn cli_refuses_what_would_lose_work_or_cannot_run() {
    let dir = temp_dir("promises");
    let c = corpus(&dir);
    let corpus_arg = c.to_str().unwrap();
    let run = dir.join("run");
    let run_arg = run.to_str().unwrap();
    let small = ["--emb", "8", "--hidden", "16", "--dense", "16", "--seq-len", "16", "--batch", "4", "--threads", "1"];
    let train = |out: &str, extra: &[&str]| {
        let mut a = vec!["train", "--corpus", corpus_arg, "--out", out];
        a.extend_from_slice(&small);
        a.extend_from_slice(extra);
        edgegru(&a)
    };
    let (code, _, err) = train(run_arg, &["--steps", "10"]);
    assert_eq!(code, 0, "{err}");
    let before = std::fs::read(run.join("checkpoint.json")).ok().or_else(|| std::fs::read(run.join("history.csv")).ok()).unwrap();
    // Another run into the same folder is refused without --force, and changes nothing.
    let (code, out, err) = train(run_arg, &["--steps", "10"]);
    assert!(code == 1 && err.contains("--force") && out.is_empty(), "{err}");
    let after = std::fs::read(run.join("checkpoint.json")).ok().or_else(|| std::fs::read(run.join("history.csv")).ok()).unwrap();
    assert_eq!(before, after, "a refused run wrote into the folder");
    // history.csv's header names every column of its rows.
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    let mut lines = csv.lines();
    let header = lines.next().unwrap().split(',').count();
    assert!(lines.all(|l| l.split(',').count() == header), "{csv}");
    // Exporting over an existing file needs --force too.
    let model = dir.join("m.egru");
    let model_arg = model.to_str().unwrap();
    assert_eq!(edgegru(&["export", "--checkpoint", run_arg, "--out", model_arg]).0, 0);
    let (code, _, err) = edgegru(&["export", "--checkpoint", run_arg, "--out", model_arg]);
    assert!(code == 1 && err.contains("--force"), "{err}");
    // Pruning into the checkpoint it reads is refused.
    let (code, _, err) = edgegru(&["prune", "--checkpoint", run_arg, "--out", run_arg, "--prune-to", "0.5", "--steps", "5"]);
    assert!(code == 1 && err.starts_with("error:") && !err.contains("unexpected argument"), "{err}");
    // Sizes that cannot fit are refused with the bytes needed, before any allocation.
    let huge = dir.join("huge");
    for (size, says) in [
        (["--hidden", "60000"], "bytes"),
        (["--hidden", "100000"], "larger than a model file holds"),
        (["--dense", "200000000"], "larger than a model file holds"),
    ] {
        let (code, _, err) = edgegru(&[
            "train",
            "--corpus",
            corpus_arg,
            "--out",
            huge.to_str().unwrap(),
            "--seq-len",
            "16",
            "--batch",
            "4",
            size[0],
            size[1],
            "--steps",
            "1",
        ]);
        assert!(code == 1 && err.contains(says), "{size:?}: exit {code}: {err}");
    }
    assert!(!huge.exists(), "a refused run left a folder behind");
    // Settings that cannot run are refused with a clear message.
    for bad in [
        vec!["--clip", "-1", "--steps", "5"],
        vec!["--l2", "-0.1", "--steps", "5"],
        vec!["--momentum", "2", "--optimizer", "sgd", "--steps", "5"],
        vec!["--min-lr", "1", "--lr", "0.001", "--steps", "5"],
        vec!["--steps", "0"],
        vec!["--epochs", "0"],
        vec!["--minutes", "0"],
        vec!["--tokenizer", "word", "--num-words", "2", "--steps", "5"],
    ] {
        let (code, out, err) = train(dir.join("never").to_str().unwrap(), &bad);
        assert!(code == 1 && err.starts_with("error:") && out.is_empty(), "{bad:?}: exit {code}: {err}");
        assert!(!dir.join("never").exists(), "{bad:?} left a folder behind");
    }
    for bad in [vec!["--steps", "0"], vec!["--rounds", "0"]] {
        let mut a = vec!["bench", "--model", model_arg];
        a.extend_from_slice(&bad);
        let (code, _, err) = edgegru(&a);
        assert!(code == 1 && err.starts_with("error:"), "bench {bad:?}: {err}");
    }
    let (code, out, err) = edgegru(&["generate", "--model", model_arg, "--prompt", "x", "--temperature", "-1"]);
    assert!(code == 1 && err.contains("temperature") && !err.contains("unexpected argument") && out.is_empty(), "{err}");
    // An unknown character is named, and generation can skip it; stdout stays empty on error.
    let (code, out, err) = edgegru(&["generate", "--model", model_arg, "--prompt", "th\u{e9} ", "--max-tokens", "5"]);
    assert!(code == 1 && err.contains("U+00E9") && out.is_empty(), "{err}");
    let (code, _, err) = edgegru(&["generate", "--model", model_arg, "--prompt", "th\u{e9} ", "--max-tokens", "5", "--skip-unknown"]);
    assert_eq!(code, 0, "{err}");
    let odd = dir.join("odd.txt");
    std::fs::write(&odd, std::fs::read_to_string(&c).unwrap() + "\u{2603} snow").unwrap();
    let (code, out, err) = edgegru(&["eval", "--model", model_arg, "--corpus", odd.to_str().unwrap(), "--val-split", "0.5"]);
    assert!(code == 1 && err.contains("U+2603") && err.contains("--skip-unknown") && out.is_empty(), "{err}");
    let (code, _, err) =
        edgegru(&["eval", "--model", model_arg, "--corpus", odd.to_str().unwrap(), "--val-split", "0.5", "--skip-unknown"]);
    assert_eq!(code, 0, "{err}");
    // Zero-length and nonsensical runs of the other commands are refused too.
    let never = dir.join("never2");
    let never_arg = never.to_str().unwrap();
    for args in [
        vec!["prune", "--checkpoint", run_arg, "--out", never_arg, "--prune-to", "0.5", "--steps", "0"],
        vec!["pipeline", "--corpus", corpus_arg, "--out", never_arg, "--steps", "0"],
        vec!["train", "--corpus", corpus_arg, "--out", never_arg, "--l1", "-1", "--steps", "5"],
    ] {
        let (code, out, err) = edgegru(&args);
        assert!(code == 1 && err.starts_with("error:") && !err.contains("unexpected argument") && out.is_empty(), "{args:?}: {err}");
        assert!(!never.exists(), "{args:?} left a folder behind");
    }
    // --force replaces the run: no history or TensorBoard records of the old one stay.
    let (code, _, err) = train(run_arg, &["--steps", "4", "--force"]);
    assert_eq!(code, 0, "{err}");
    let csv = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert!(csv.lines().skip(1).all(|l| l.split(',').next().and_then(|s| s.parse::<u64>().ok()).is_some_and(|step| step <= 4)), "{csv}");
    assert_eq!(std::fs::read_dir(run.join("tensorboard")).unwrap().count(), 1, "one run's event file");
    // A file that is not a model says so.
    let (code, _, err) = edgegru(&["generate", "--model", corpus_arg, "--prompt", "x"]);
    assert!(code == 1 && err.contains("not an .egru"), "{err}");
    // A closed pipe ends generation quietly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["generate", "--model", model_arg, "--prompt", "the ", "--max-tokens", "100000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "closed pipe: {}", String::from_utf8_lossy(&out.stderr));
    // The same for a command that prints a table.
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["eval", "--model", model_arg, "--corpus", corpus_arg])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "eval into a closed pipe: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--resume`: the run finds its data by the absolute path it stored (from
/// another working directory), `--corpus` may point at a copy of the same
/// text (checked by its fingerprint) but not at another text, and flags a
/// resume would ignore are refused by name.
#[test]
fn resume_finds_its_data_and_refuses_flags_it_would_ignore() {
    let dir = temp_dir("resume-cli");
    let c = corpus(&dir);
    let run = dir.join("run");
    let run_arg = run.to_str().unwrap();
    let small = ["--emb", "8", "--hidden", "16", "--dense", "16", "--seq-len", "16", "--batch", "4", "--threads", "1"];
    let mut first = vec!["train", "--corpus", c.to_str().unwrap(), "--out", run_arg, "--steps", "6"];
    first.extend_from_slice(&small);
    assert_eq!(edgegru(&first).0, 0);
    // From another working directory, with the stored path.
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["train", "--resume", run_arg, "--steps", "9"])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(Checkpoint::load(&run).unwrap().optimizer.step, 9);
    // A copy of the same text elsewhere is accepted; another text is not.
    let copy = dir.join("copy.txt");
    std::fs::copy(&c, &copy).unwrap();
    let (code, _, err) = edgegru(&["train", "--resume", run_arg, "--corpus", copy.to_str().unwrap(), "--steps", "12"]);
    assert_eq!(code, 0, "{err}");
    let other = dir.join("other.txt");
    std::fs::write(&other, std::fs::read_to_string(&c).unwrap().replace('e', "a")).unwrap();
    let (code, _, err) = edgegru(&["train", "--resume", run_arg, "--corpus", other.to_str().unwrap(), "--steps", "15"]);
    assert!(code == 1 && err.contains("not the data this run trained on"), "{err}");
    let (code, _, err) = edgegru(&["train", "--resume", run_arg, "--hidden", "32", "--lr", "0.1", "--steps", "15"]);
    assert!(code == 1 && err.contains("--hidden") && err.contains("--lr"), "{err}");
    assert_eq!(Checkpoint::load(&run).unwrap().optimizer.step, 12, "refused resumes changed the run");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Built-in models are taken by name wherever a model is, and `edgegru
/// models` lists every one of them.
#[test]
fn built_in_models_by_name() {
    let (code, out, _) = edgegru(&["models", "--json"]);
    assert_eq!(code, 0);
    let list: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fortunes-char", "fortunes-word", "tiny", "basicmotions", "japanesevowels"]);
    for name in ["fortunes-char", "fortunes-word", "tiny"] {
        let (code, _, err) = edgegru(&["generate", "--model", name, "--prompt", "the ", "--max-tokens", "5"]);
        assert_eq!(code, 0, "{name}: {err}");
    }
    let (code, out, err) = edgegru(&["inspect", "basicmotions"]);
    assert!(code == 0 && out.contains("4 classes"), "{err}");
}
