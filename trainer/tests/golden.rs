//! The CPU backend against PyTorch: loss, every gradient, and parameters
//! after 3 Adam steps on a tiny model (fixture made by
//! `tests/fixtures/make_golden.py`, gate order converted there).

use edgegru_trainer::engine::cpu::CpuEngine;
use edgegru_trainer::engine::{Batch, BatchInput, BatchTarget, CpuParallelism, Regularization};
use edgegru_trainer::network::{LegacyShape, NetSpec, Slot};
use edgegru_trainer::optim::{Decay, Optimizer, OptimizerConfig, OptimizerKind};
use edgegru_trainer::params::Params;
use serde_json::Value;

/// The fixture's names of the version-1 tensors.
const TENSORS: [(&str, Slot); 9] = [
    ("embedding", Slot::Embedding),
    ("gru_input", Slot::GruInput(0)),
    ("gru_recurrent", Slot::GruRecurrent(0)),
    ("gru_input_bias", Slot::GruInputBias(0)),
    ("gru_recurrent_bias", Slot::GruRecurrentBias(0)),
    ("dense", Slot::Dense(0)),
    ("dense_bias", Slot::DenseBias(0)),
    ("output", Slot::Output),
    ("output_bias", Slot::OutputBias),
];

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/gru_tiny_golden.json")).unwrap()
}

fn load(v: &Value, net: &NetSpec) -> Params {
    let mut p = Params::zeros(net.clone());
    for (name, t) in TENSORS {
        let values: Vec<f32> = v[name].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        p.get_mut(t).copy_from_slice(&values);
    }
    p
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// `max |a - b| / max |b|` per tensor: relative to the tensor's magnitude.
fn assert_close(name: &str, got: &Params, want: &Params, tol: f64) {
    for (tensor, t) in TENSORS {
        let (g, w) = (got.get(t), want.get(t));
        let scale = w.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64)).max(1e-12);
        let err = g.iter().zip(w).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
        assert!(err / scale <= tol, "{name} {tensor}: relative error {:.2e}", err / scale);
    }
}

#[test]
fn loss_gradients_and_adam_steps_match_pytorch() {
    let f = fixture();
    let d = &f["dims"];
    let dim = |k: &str| d[k].as_u64().unwrap() as usize;
    let net: NetSpec =
        LegacyShape { vocab: dim("vocab") as u32, emb: dim("emb") as u32, hidden: dim("hidden") as u32, dense: dim("dense") as u32 }.into();
    let params = load(&f["params"], &net);
    let (inputs, targets) = (ids(&f["inputs"]), ids(&f["targets"]));
    let batch =
        Batch { input: BatchInput::Tokens(&inputs), target: BatchTarget::NextTokens(&targets), batch: dim("batch"), seq: dim("seq") };
    let reg = Regularization::default();
    let gradients = |p: &Params| {
        let o = Optimizer::new(OptimizerConfig::default(), p.data.len());
        CpuEngine::new(p.clone(), o, None, CpuParallelism::default()).gradients(&batch, &reg, 0).unwrap()
    };
    let (stats, grads) = gradients(&params);
    let want_loss = f["loss"].as_f64().unwrap();
    assert!(((stats.loss - want_loss) / want_loss).abs() < 1e-5, "loss {} vs PyTorch {want_loss}", stats.loss);
    assert_close("gradient", &grads, &load(&f["grads"], &net), 1e-5);

    let a = &f["adam"];
    let config = OptimizerConfig {
        kind: OptimizerKind::Adam,
        lr: a["lr"].as_f64().unwrap() as f32,
        beta1: a["beta1"].as_f64().unwrap() as f32,
        beta2: a["beta2"].as_f64().unwrap() as f32,
        eps: a["eps"].as_f64().unwrap() as f32,
        clip: 0.0,
        decay: Decay::None,
        ..OptimizerConfig::default()
    };
    let mut p = params.clone();
    let mut opt = Optimizer::new(config, p.data.len());
    for _ in 0..a["steps"].as_u64().unwrap() {
        let (_, g) = gradients(&p);
        let norm = g.data.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        opt.apply(&mut p.data, &g.data, norm);
    }
    assert_close("after Adam", &p, &load(&f["params_after_adam"], &net), 1e-5);
}
