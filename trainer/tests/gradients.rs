//! The training graph's gradients against finite differences of its own
//! loss, for each kind of network: a stacked language model with dropout and
//! an L2 penalty, a stacked feature classifier over sequences of different
//! lengths, and a regression network. With a fixed mask seed the dropout
//! masks are fixed, so the loss is a smooth function of the weights. Also:
//! splitting a batch into data-parallel shards changes only the rounding.

use edgegru_runtime::InputKind;
use edgegru_runtime::{Activation, Rng};
use edgegru_trainer::engine::cpu::CpuEngine;
use edgegru_trainer::engine::{Batch, BatchInput, BatchTarget, CpuParallelism, Regularization};
use edgegru_trainer::network::{DenseSpec, HeadSpec, NetSpec};
use edgegru_trainer::optim::{Optimizer, OptimizerConfig};
use edgegru_trainer::params::Params;

/// Parameters with every bias random too (they start at zero).
fn random_params(net: NetSpec, seed: u64) -> Params {
    let mut p = Params::init(net, seed);
    let mut rng = Rng::new(seed + 100);
    for (t, _, c) in p.net.slots() {
        if c == 1 {
            p.get_mut(t).iter_mut().for_each(|x| *x = rng.next_f32() - 0.5);
        }
    }
    p
}

fn loss_and_gradients(p: &Params, batch: &Batch<'_>, reg: &Regularization, shards: usize) -> (f64, Params) {
    let o = Optimizer::new(OptimizerConfig::default(), p.data.len());
    let parallelism = CpuParallelism { shards, workers: shards, gemm_threads: 1 };
    let (s, g) = CpuEngine::new(p.clone(), o, None, parallelism).gradients(batch, reg, 7).unwrap();
    (s.loss + s.penalty, g)
}

/// Central differences in f64 around f32 weights: each weight of every
/// tensor at a stride, compared with the analytic gradient relative to the
/// tensor's largest gradient.
fn check(name: &str, p: &Params, batch: &Batch<'_>, reg: &Regularization) {
    let (_, g) = loss_and_gradients(p, batch, reg, 1);
    let mut checked = 0;
    for (slot, _, _) in p.net.slots() {
        let range = p.net.range(slot);
        let analytic = &g.data[range.clone()];
        let scale = analytic.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64)).max(1e-3);
        let stride = (range.len() / 12).max(1);
        for i in range.clone().step_by(stride) {
            let eps = 1e-2f32;
            let mut plus = p.clone();
            plus.data[i] += eps;
            let mut minus = p.clone();
            minus.data[i] -= eps;
            let numeric = (loss_and_gradients(&plus, batch, reg, 1).0 - loss_and_gradients(&minus, batch, reg, 1).0) / (2.0 * eps as f64);
            let got = g.data[i] as f64;
            assert!(
                (numeric - got).abs() <= 0.02 * scale + 1e-4,
                "{name}, {} [{}]: analytic {got:.6}, numeric {numeric:.6} (largest {scale:.4})",
                slot.name(),
                i - range.start
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "{name}: only {checked} weights checked");
}

/// Gradients of a batch split into 2 shards equal those of one pass, up to rounding.
fn check_shards(name: &str, p: &Params, batch: &Batch<'_>, reg: &Regularization) {
    let (l1, g1) = loss_and_gradients(p, batch, reg, 1);
    let (l2, g2) = loss_and_gradients(p, batch, reg, 2);
    assert!((l1 - l2).abs() <= 1e-5 * l1.abs(), "{name}: loss {l1} vs {l2} in 2 shards");
    let scale = g1.data.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    for (i, (a, b)) in g1.data.iter().zip(&g2.data).enumerate() {
        assert!((a - b).abs() <= 1e-4 * scale, "{name} [{i}]: {a} vs {b} in 2 shards");
    }
}

#[test]
fn stacked_language_model_with_dropout() {
    let net = NetSpec {
        input: InputKind::Tokens { vocab: 9, emb: 4 },
        grus: vec![6, 5],
        dense: vec![DenseSpec { width: 5, activation: Activation::Relu }],
        head: HeadSpec::NextToken,
    };
    let p = random_params(net, 1);
    let inputs: Vec<u32> = (0..4 * 5).map(|i| (i * 5 % 9) as u32).collect();
    let targets: Vec<u32> = (0..4 * 5).map(|i| ((i * 5 + 2) % 9) as u32).collect();
    let batch = Batch { input: BatchInput::Tokens(&inputs), target: BatchTarget::NextTokens(&targets), batch: 4, seq: 5 };
    let reg = Regularization { dropout: vec![0.2, 0.1], recurrent_dropout: vec![0.25], l1: 0.0, l2: 1e-3 };
    check("stacked LM", &p, &batch, &reg);
    check_shards("stacked LM", &p, &batch, &reg);
}

#[test]
fn stacked_feature_classifier_over_sequences_of_different_lengths() {
    let net = NetSpec {
        input: InputKind::Features { count: 3 },
        grus: vec![5, 4],
        dense: vec![DenseSpec { width: 4, activation: Activation::Tanh }, DenseSpec { width: 3, activation: Activation::Sigmoid }],
        head: HeadSpec::Classes { count: 3 },
    };
    let p = random_params(net, 2);
    let features: Vec<f32> = (0..4 * 6 * 3).map(|i| ((i * 13 % 17) as f32 - 8.0) / 5.0).collect();
    let (labels, lengths) = ([0u32, 2, 1, 2], [6usize, 3, 5, 1]);
    let batch = Batch {
        input: BatchInput::Features(&features),
        target: BatchTarget::Classes { labels: &labels, lengths: &lengths },
        batch: 4,
        seq: 6,
    };
    let reg = Regularization { dropout: vec![0.1], recurrent_dropout: vec![0.0], l1: 0.0, l2: 0.0 };
    check("classifier", &p, &batch, &reg);
    check_shards("classifier", &p, &batch, &reg);
}

#[test]
fn regression_network() {
    let net = NetSpec {
        input: InputKind::Features { count: 2 },
        grus: vec![4],
        dense: vec![DenseSpec { width: 3, activation: Activation::Linear }],
        head: HeadSpec::Regression { count: 2 },
    };
    let p = random_params(net, 3);
    let features: Vec<f32> = (0..3 * 4 * 2).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect();
    let values = [0.5f32, -1.0, 1.5, 0.25, -0.75, 2.0];
    let lengths = [4usize, 2, 3];
    let batch = Batch {
        input: BatchInput::Features(&features),
        target: BatchTarget::Values { values: &values, lengths: &lengths },
        batch: 3,
        seq: 4,
    };
    check("regression", &p, &batch, &Regularization::default());
    check_shards("regression", &p, &batch, &Regularization::default());
}
