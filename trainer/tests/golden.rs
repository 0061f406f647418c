//! The CPU backend against PyTorch: loss, every gradient, and parameters
//! after 3 Adam steps on a tiny model (fixture made by
//! `tests/fixtures/make_golden.py`, gate order converted there).

use edgegru_trainer::cpu::{forward_backward, Batch, Regularization, Workspace};
use edgegru_trainer::optim::{Decay, Optimizer, OptimizerConfig, OptimizerKind};
use edgegru_trainer::params::{Params, Shape, Tensor};
use serde_json::Value;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/gru_tiny_golden.json")).unwrap()
}

fn load(v: &Value, shape: Shape) -> Params {
    let mut p = Params::zeros(shape);
    for t in Tensor::ALL {
        let values: Vec<f32> = v[t.as_str()].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
        p.get_mut(t).copy_from_slice(&values);
    }
    p
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// `max |a - b| / max |b|` per tensor: relative to the tensor's magnitude.
fn assert_close(name: &str, got: &Params, want: &Params, tol: f64) {
    for t in Tensor::ALL {
        let (g, w) = (got.get(t), want.get(t));
        let scale = w.iter().fold(0.0f64, |m, &x| m.max(x.abs() as f64)).max(1e-12);
        let err = g.iter().zip(w).fold(0.0f64, |m, (&a, &b)| m.max((a as f64 - b as f64).abs()));
        assert!(err / scale <= tol, "{name} {}: relative error {:.2e}", t.as_str(), err / scale);
    }
}

#[test]
fn loss_gradients_and_adam_steps_match_pytorch() {
    let f = fixture();
    let d = &f["dims"];
    let dim = |k: &str| d[k].as_u64().unwrap() as usize;
    let shape = Shape { vocab: dim("vocab") as u32, emb: dim("emb") as u32, hidden: dim("hidden") as u32, dense: dim("dense") as u32 };
    let params = load(&f["params"], shape);
    let (inputs, targets) = (ids(&f["inputs"]), ids(&f["targets"]));
    let batch = Batch { inputs: &inputs, targets: &targets, batch: dim("batch"), seq: dim("seq") };
    let reg = Regularization::default();
    let mut grads = Params::zeros(shape);
    let stats = forward_backward(&params, &batch, &reg, 0, Some(&mut grads), &mut Workspace::default());
    let want_loss = f["loss"].as_f64().unwrap();
    assert!(((stats.loss - want_loss) / want_loss).abs() < 1e-5, "loss {} vs PyTorch {want_loss}", stats.loss);
    assert_close("gradient", &grads, &load(&f["grads"], shape), 1e-5);

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
        let mut g = Params::zeros(shape);
        forward_backward(&p, &batch, &reg, 0, Some(&mut g), &mut Workspace::default());
        opt.apply(&mut p, &mut g);
    }
    assert_close("after Adam", &p, &load(&f["params_after_adam"], shape), 1e-5);
}
