//! The CUDA backend. Everywhere: the kernels compile with NVRTC, and
//! `--device cuda` without a GPU is a clear error. Where a GPU is: gradients,
//! training and checkpoints match the CPU backend.
//!
//! Tests that need something this machine lacks print `SKIPPED: ...` and
//! pass, unless `EDGEGRU_REQUIRE_NVRTC=1` / `EDGEGRU_REQUIRE_GPU=1` says the
//! machine must have it (the test command sets the first, `tests/gpu/check.sh`
//! both), so nothing is skipped by accident.
#![cfg(feature = "cuda")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use edgegru_runtime::Activation;
use edgegru_runtime::InputKind;
use edgegru_trainer::checkpoint::Checkpoint;
use edgegru_trainer::config::{Task, TokenizerChoice, TrainConfig};
use edgegru_trainer::data::WindowOffsets;
use edgegru_trainer::engine::cpu::CpuEngine;
use edgegru_trainer::engine::cuda::{self, CudaEngine, KernelTarget};
use edgegru_trainer::engine::{self, Batch, BatchInput, BatchTarget, CpuParallelism, Device as DeviceChoice, Precision, Regularization};
use edgegru_trainer::network::{DenseSpec, HeadSpec, NetSpec, Slot};
use edgegru_trainer::optim::{Optimizer, OptimizerConfig};
use edgegru_trainer::params::{EmbeddingInit, LayerInit, Params};
use edgegru_trainer::prune::Masks;
use edgegru_trainer::run::{self as train, Progress};

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Whether a CUDA GPU is usable; without one, says so (or fails when one is required).
fn gpu(test: &str) -> bool {
    let found = cuda::check_libraries().and_then(|_| cuda::device_count()).map(|n| n > 0);
    match found {
        Ok(true) => true,
        other => {
            let why = match other {
                Err(e) => e.to_string(),
                _ => "the driver reports no GPU".into(),
            };
            assert!(!required("EDGEGRU_REQUIRE_GPU"), "{test}: EDGEGRU_REQUIRE_GPU=1 but {why}");
            eprintln!("SKIPPED: {test}: no CUDA GPU here ({why}); tests/gpu/check.sh runs it on a GPU machine");
            false
        }
    }
}

#[test]
fn kernels_compile_with_nvrtc() {
    if !cuda::nvrtc_available() {
        assert!(!required("EDGEGRU_REQUIRE_NVRTC"), "EDGEGRU_REQUIRE_NVRTC=1 but libnvrtc.so.13 cannot be loaded (LD_LIBRARY_PATH?)");
        eprintln!("SKIPPED: kernels_compile_with_nvrtc: NVRTC (libnvrtc.so.13) is not installed here");
        return;
    }
    let ptx = cuda::compile_kernels(KernelTarget::Ptx).expect("the kernels compile to PTX");
    let text = ptx.to_src();
    for name in cuda::KERNEL_NAMES {
        assert!(text.contains(&format!(".entry {name}(")), "{name} missing from the PTX");
    }
    // Machine code for the GPUs the check script runs on (H100/H200: sm_90)
    // and an older one (A100: sm_80).
    for (major, minor) in [(9, 0), (8, 0)] {
        cuda::compile_kernels(KernelTarget::Cubin { major, minor }).unwrap_or_else(|e| panic!("sm_{major}{minor}: {e}"));
    }
}

#[test]
fn device_cuda_without_a_gpu_is_a_clear_error() {
    if cuda::check_libraries().and_then(|_| cuda::device_count()).is_ok_and(|n| n > 0) {
        eprintln!("SKIPPED: device_cuda_without_a_gpu_is_a_clear_error: this machine has a GPU");
        return;
    }
    let p = Params::init(NetSpec::language_model(5, 2, &[3], 2), 1);
    let o = Optimizer::new(OptimizerConfig::default(), p.data.len());
    let err = engine::create(DeviceChoice::Cuda, Precision::F32, p, o, None, CpuParallelism::default()).err().expect("no GPU, no engine");
    let msg = err.to_string();
    assert!(msg.starts_with("--device cuda:"), "{msg}");

    // The command line says the same and writes nothing.
    let dir = std::env::temp_dir().join(format!("edgegru-test-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, "abcabcabc ".repeat(200)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args([
            "train",
            "--device",
            "cuda",
            "--steps",
            "2",
            "--seq-len",
            "8",
            "--batch",
            "2",
            "--hidden",
            "4",
            "--emb",
            "2",
            "--dense",
            "4",
        ])
        .arg("--corpus")
        .arg(&corpus)
        .arg("--out")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--device cuda:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!dir.join("run").exists(), "nothing is written");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn with_random_biases(mut p: Params) -> Params {
    let mut rng = edgegru_runtime::Rng::new(9);
    for (t, _, c) in p.net.slots() {
        if c == 1 {
            p.get_mut(t).iter_mut().for_each(|x| *x = rng.next_f32() - 0.5);
        }
    }
    p
}

#[test]
fn gpu_loss_and_every_gradient_match_the_cpu() {
    if !gpu("gpu_loss_and_every_gradient_match_the_cpu") {
        return;
    }
    // A language model of the version-1 shape, and a stacked feature classifier.
    let lm = with_random_biases(Params::init(NetSpec::language_model(11, 5, &[7], 6), 3));
    let inputs: Vec<u32> = (0..4 * 6).map(|i| (i * 7 % 11) as u32).collect();
    let targets: Vec<u32> = (0..4 * 6).map(|i| ((i * 7 + 3) % 11) as u32).collect();
    let net = NetSpec {
        input: InputKind::Features { count: 3 },
        grus: vec![6, 5],
        dense: vec![DenseSpec { width: 4, activation: Activation::Tanh }],
        head: HeadSpec::Classes { count: 3 },
    };
    let classifier = with_random_biases(Params::init(net, 4));
    let features: Vec<f32> = (0..4 * 6 * 3).map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0).collect();
    let (labels, lengths) = ([0u32, 2, 1, 2], [6usize, 3, 5, 1]);
    let cases = [
        (lm, Batch { input: BatchInput::Tokens(&inputs), target: BatchTarget::NextTokens(&targets), batch: 4, seq: 6 }),
        (
            classifier,
            Batch {
                input: BatchInput::Features(&features),
                target: BatchTarget::Classes { labels: &labels, lengths: &lengths },
                batch: 4,
                seq: 6,
            },
        ),
    ];
    for (p, batch) in &cases {
        // Dropout included: both devices draw the same masks from the seed.
        for reg in [Regularization::default(), Regularization { dropout: vec![0.2], recurrent_dropout: vec![0.3], l1: 1e-3, l2: 1e-3 }] {
            let o = Optimizer::new(OptimizerConfig::default(), p.data.len());
            let (s_cpu, g_cpu) = CpuEngine::new(p.clone(), o.clone(), None, CpuParallelism::default()).gradients(batch, &reg, 77).unwrap();
            let mut gpu = CudaEngine::new(0, Precision::F32, p.clone(), o, None).unwrap();
            let (s_gpu, g_gpu) = gpu.gradients(batch, &reg, 77).unwrap();
            assert!((s_cpu.loss - s_gpu.loss).abs() <= 1e-4 * s_cpu.loss.abs(), "loss {} vs {}", s_cpu.loss, s_gpu.loss);
            assert!((s_cpu.penalty - s_gpu.penalty).abs() <= 1e-4 * s_cpu.penalty.abs().max(1e-6));
            assert_eq!(s_cpu.correct, s_gpu.correct);
            for (t, _, _) in p.net.slots() {
                let (a, b): (&[f32], &[f32]) = (g_cpu.get(t), g_gpu.get(t));
                let scale = a.iter().map(|x| x.abs()).fold(0.0f32, f32::max).max(1e-6);
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    assert!((x - y).abs() <= 1e-4 * scale, "{} [{i}]: cpu {x} gpu {y} (largest {scale}) with {reg:?}", t.name());
                }
            }
        }
    }
    let _ = Slot::Output;
}

fn corpus_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edgegru-test-cuda-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text: String = (0..4000).map(|i| ["the cat sat. ", "a dog ran! ", "on the mat, ", "we go home. "][i * 7 % 4]).collect();
    std::fs::write(dir.join("corpus.txt"), text).unwrap();
    dir
}

fn config(dir: &std::path::Path, device: DeviceChoice, precision: Precision, steps: u64) -> TrainConfig {
    TrainConfig {
        corpus: dir.join("corpus.txt"),
        task: Task::Lm,
        val_data: None,
        lossy: false,
        tokenizer: TokenizerChoice::Char,
        num_words: 100,
        emb: 16,
        hidden: vec![64],
        dense: 64,
        seq_len: 32,
        batch: 16,
        epochs: None,
        steps: Some(steps),
        minutes: None,
        optimizer: OptimizerConfig::default(),
        regularization: Regularization::default(),
        val_split: 0.1,
        seed: 5,
        threads: 1,
        checkpoint_every: 0,
        log_every: 1000,
        prune: None,
        patience: None,
        device,
        precision,
        embedding_init: EmbeddingInit::Keras,
        layer_init: LayerInit::Keras,
        shards: 1,
        columns: Default::default(),
        fill: Default::default(),
        window_offsets: WindowOffsets::Fixed,
        data_fingerprint: None,
    }
}

struct Quiet;
impl Progress for Quiet {
    fn start(&mut self, _: &NetSpec, _: &TrainConfig, _: &train::Plan) {}
    fn step(&mut self, _: u64, _: Option<u64>, _: f64, _: f64, _: Option<f64>) {}
    fn record(&mut self, _: &edgegru_trainer::history::Record) {}
}

fn run(config: TrainConfig, out: &std::path::Path, resume: Option<Checkpoint>) -> train::Outcome {
    train::train(config, out, resume, Arc::new(AtomicBool::new(false)), &mut Quiet).unwrap()
}

#[test]
fn gpu_training_tracks_the_cpu_and_checkpoints_move_between_them() {
    if !gpu("gpu_training_tracks_the_cpu_and_checkpoints_move_between_them") {
        return;
    }
    let dir = corpus_dir();
    let cpu_run = run(config(&dir, DeviceChoice::Cpu, Precision::F32, 300), &dir.join("cpu"), None);
    let gpu_run = run(config(&dir, DeviceChoice::Cuda, Precision::F32, 300), &dir.join("gpu"), None);
    // Same batches, same masks: the curves agree closely at first and stay together.
    for (i, (a, b)) in cpu_run.losses.iter().zip(&gpu_run.losses).take(20).enumerate() {
        assert!((a - b).abs() <= 1e-3 * a, "step {i}: cpu {a} gpu {b}");
    }
    let tail = |l: &[f64]| l[l.len() - 50..].iter().sum::<f64>() / 50.0;
    let (tc, tg) = (tail(&cpu_run.losses), tail(&gpu_run.losses));
    assert!((tc - tg).abs() <= 0.02 * tc, "last 50 steps: cpu {tc} gpu {tg}");
    assert!(tg < cpu_run.losses[0] * 0.6, "the GPU run learned: {} -> {tg}", gpu_run.losses[0]);

    // A GPU checkpoint evaluates the same on the CPU, and continues there.
    let ck = Checkpoint::load(&dir.join("gpu")).unwrap();
    let (p, o) = (ck.params.clone(), ck.optimizer.clone());
    let mut on_gpu = engine::create(DeviceChoice::Cuda, Precision::F32, p.clone(), o.clone(), None, CpuParallelism::default()).unwrap();
    let mut on_cpu = engine::create(DeviceChoice::Cpu, Precision::F32, p, o, None, CpuParallelism::default()).unwrap();
    let vocab = ck.vocab.as_ref().unwrap().len();
    let ids: Vec<u32> = (0..16 * 32).map(|i| (i % vocab) as u32).collect();
    let tg: Vec<u32> = ids.iter().map(|&i| (i + 1) % vocab as u32).collect();
    let b = Batch { input: BatchInput::Tokens(&ids), target: BatchTarget::NextTokens(&tg), batch: 16, seq: 32 };
    let (lg, lc) = (on_gpu.evaluate(&b).unwrap().loss, on_cpu.evaluate(&b).unwrap().loss);
    assert!((lg - lc).abs() <= 1e-4 * lc, "gpu {lg} cpu {lc}");
    let resumed = run(config(&dir, DeviceChoice::Cpu, Precision::F32, 350), &dir.join("gpu"), Some(ck));
    assert_eq!(resumed.steps, 350);
    assert!(resumed.losses.iter().all(|l| l.is_finite()));
    // ... and a CPU checkpoint continues on the GPU.
    let ck = Checkpoint::load(&dir.join("cpu")).unwrap();
    let resumed = run(config(&dir, DeviceChoice::Cuda, Precision::F32, 350), &dir.join("cpu"), Some(ck));
    assert_eq!(resumed.steps, 350);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gpu_pruning_masks_hold_and_bf16_trains() {
    if !gpu("gpu_pruning_masks_hold_and_bf16_trains") {
        return;
    }
    let dir = corpus_dir();
    let f32_run = run(config(&dir, DeviceChoice::Cuda, Precision::F32, 200), &dir.join("f32"), None);
    let bf16_run = run(config(&dir, DeviceChoice::Cuda, Precision::Bf16, 200), &dir.join("bf16"), None);
    let tail = |l: &[f64]| l[l.len() - 30..].iter().sum::<f64>() / 30.0;
    let (a, b) = (tail(&f32_run.losses), tail(&bf16_run.losses));
    // Both learn this small corpus almost to zero loss, where a relative
    // comparison alone means nothing: bf16 ends within 5% of f32's loss or
    // within 1% of the starting loss, and far below where it started.
    let start = f32_run.losses[0];
    assert!((a - b).abs() <= 0.05 * a + 0.01 * start, "f32 {a} vs bf16 {b} (start {start})");
    assert!(b < 0.5 * bf16_run.losses[0], "bf16 learned: {} -> {b}", bf16_run.losses[0]);

    // Masked weights stay zero through GPU updates.
    let ck = Checkpoint::load(&dir.join("f32")).unwrap();
    let mut masks = Masks::dense(&ck.params);
    for m in &mut masks.masks {
        m.iter_mut().step_by(2).for_each(|k| *k = 0);
    }
    let mut e =
        engine::create(DeviceChoice::Cuda, Precision::F32, ck.params.clone(), ck.optimizer.clone(), None, CpuParallelism::default())
            .unwrap();
    e.set_masks(&masks).unwrap();
    let vocab = ck.vocab.as_ref().unwrap().len();
    let ids: Vec<u32> = (0..16 * 32).map(|i| (i % vocab) as u32).collect();
    let b = Batch { input: BatchInput::Tokens(&ids), target: BatchTarget::NextTokens(&ids), batch: 16, seq: 32 };
    for s in 0..5 {
        e.step(&b, &Regularization::default(), s).unwrap();
    }
    let (p, _) = e.state().unwrap();
    let mut masked = p.clone();
    masks.apply(&mut masked);
    assert_eq!(p, masked, "a pruned weight came back");
    assert_ne!(p, ck.params);
    std::fs::remove_dir_all(&dir).unwrap();
}
