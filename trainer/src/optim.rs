//! Optimizers (Adam with bias correction, SGD with momentum), gradient
//! clipping by global norm, and the learning-rate schedule.

use serde::{Deserialize, Serialize};

/// Which update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum OptimizerKind {
    /// Adam (Kingma & Ba, 2015) with bias correction.
    Adam,
    /// Stochastic gradient descent with momentum.
    Sgd,
}

/// Learning-rate decay after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Decay {
    /// Constant.
    None,
    /// Linear to `min_lr` at the last step.
    Linear,
    /// Half a cosine to `min_lr` at the last step.
    Cosine,
}

/// Optimizer settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Update rule.
    pub kind: OptimizerKind,
    /// Peak learning rate.
    pub lr: f32,
    /// Adam's first-moment decay.
    pub beta1: f32,
    /// Adam's second-moment decay.
    pub beta2: f32,
    /// Adam's epsilon (Keras' default 1e-7).
    pub eps: f32,
    /// SGD momentum.
    pub momentum: f32,
    /// Clip the global gradient norm to this (0: no clipping).
    pub clip: f32,
    /// Linear warm-up steps from 0 to `lr`.
    pub warmup_steps: u64,
    /// Decay after warm-up.
    pub decay: Decay,
    /// Learning rate at the end of the decay.
    pub min_lr: f32,
    /// Steps of the whole run (for the decay), if known.
    pub total_steps: Option<u64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            kind: OptimizerKind::Adam,
            lr: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            momentum: 0.9,
            clip: 5.0,
            warmup_steps: 0,
            decay: Decay::None,
            min_lr: 0.0,
            total_steps: None,
        }
    }
}

impl OptimizerConfig {
    /// Checks the ranges: a positive learning rate, `0 <= min_lr <= lr`,
    /// momentum in [0, 1), a finite non-negative clip.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            anyhow::bail!("--lr must be a positive number up to 10, got {}", self.lr);
        }
        if !(self.min_lr.is_finite() && self.min_lr >= 0.0) || self.min_lr > self.lr {
            anyhow::bail!("--min-lr must be in [0, --lr] ([0, {}]), got {}", self.lr, self.min_lr);
        }
        if !(0.0..1.0).contains(&self.momentum) {
            anyhow::bail!("--momentum must be in [0, 1), got {}", self.momentum);
        }
        if !(self.clip.is_finite() && self.clip >= 0.0) {
            anyhow::bail!("--clip must be a finite number >= 0 (0: no clipping), got {}", self.clip);
        }
        Ok(())
    }

    /// Learning rate of optimizer step `step` (0-based).
    pub fn lr_at(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f32 / self.warmup_steps as f32;
        }
        let Some(total) = self.total_steps.filter(|&t| t > self.warmup_steps) else {
            return self.lr;
        };
        let frac = ((step - self.warmup_steps) as f32 / (total - self.warmup_steps) as f32).min(1.0);
        match self.decay {
            Decay::None => self.lr,
            Decay::Linear => self.lr + (self.min_lr - self.lr) * frac,
            Decay::Cosine => self.min_lr + (self.lr - self.min_lr) * 0.5 * (1.0 + (std::f32::consts::PI * frac).cos()),
        }
    }
}

/// Optimizer state: the step count and the moment buffers.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    /// Settings.
    pub config: OptimizerConfig,
    /// Optimizer steps taken.
    pub step: u64,
    /// Adam first moment, or SGD momentum buffer.
    pub m: Vec<f32>,
    /// Adam second moment (empty for SGD).
    pub v: Vec<f32>,
}

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Update {
    /// Learning rate used.
    pub lr: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

/// The scalars of one update, from the optimizer's policy: every device
/// applies the same rule with them (the CPU in [`Optimizer::apply`], the GPU
/// in its `adam` / `sgd` kernels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdatePlan {
    /// Learning rate of this step.
    pub lr: f32,
    /// Gradient scale from clipping by global norm (1: not clipped).
    pub scale: f32,
    /// Adam's first-moment bias correction, `1 - beta1^t`.
    pub bc1: f32,
    /// Adam's second-moment bias correction, `1 - beta2^t`.
    pub bc2: f32,
}

impl Optimizer {
    /// Fresh state for `n` parameters.
    pub fn new(config: OptimizerConfig, n: usize) -> Self {
        let v = if config.kind == OptimizerKind::Adam { vec![0.0; n] } else { Vec::new() };
        Optimizer { config, step: 0, m: vec![0.0; n], v }
    }

    /// The policy: clipping by global norm, the learning rate of this step,
    /// and Adam's bias corrections; counts the step.
    pub fn plan(&mut self, grad_norm: f64) -> UpdatePlan {
        let c = self.config;
        let scale = if c.clip > 0.0 && grad_norm > c.clip as f64 { (c.clip as f64 / grad_norm) as f32 } else { 1.0 };
        let lr = c.lr_at(self.step);
        self.step += 1;
        let t = self.step as i32;
        UpdatePlan { lr, scale, bc1: 1.0 - c.beta1.powi(t), bc2: 1.0 - c.beta2.powi(t) }
    }

    /// Clips `grads` (whose global norm is `grad_norm`) and updates `params`.
    pub fn apply(&mut self, params: &mut [f32], grads: &[f32], grad_norm: f64) -> Update {
        let c = self.config;
        let plan = self.plan(grad_norm);
        let UpdatePlan { lr, scale, bc1, bc2 } = plan;
        match c.kind {
            OptimizerKind::Adam => {
                for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
                    let g = g * scale;
                    *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                    *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                    *p -= lr * (*m / bc1) / ((*v / bc2).sqrt() + c.eps);
                }
            }
            OptimizerKind::Sgd => {
                for ((p, &g), m) in params.iter_mut().zip(grads).zip(&mut self.m) {
                    *m = c.momentum * *m + g * scale;
                    *p -= lr * *m;
                }
            }
        }
        Update { lr, grad_norm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(opt: &mut Optimizer, p: &mut [f32], g: &[f32]) -> Update {
        let norm = g.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        opt.apply(p, g, norm)
    }

    #[test]
    fn adam_matches_the_textbook_formula() {
        let config = OptimizerConfig { lr: 0.1, clip: 0.0, eps: 1e-8, ..OptimizerConfig::default() };
        let mut p = [1.0f32];
        let mut opt = Optimizer::new(config, 1);
        let (mut m, mut v, mut x) = (0.0f64, 0.0f64, 1.0f64);
        for t in 1..=5 {
            let gval = 2.0 * x; // d/dx x^2
            apply(&mut opt, &mut p, &[gval as f32]);
            m = 0.9 * m + 0.1 * gval;
            v = 0.999 * v + 0.001 * gval * gval;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            x -= 0.1 * mh / (vh.sqrt() + 1e-8);
            assert!((p[0] as f64 - x).abs() < 1e-5, "step {t}: {} vs {x}", p[0]);
        }
    }

    #[test]
    fn sgd_momentum_and_clipping() {
        let config = OptimizerConfig { kind: OptimizerKind::Sgd, lr: 0.5, momentum: 0.9, clip: 1.0, ..OptimizerConfig::default() };
        let mut p = [0.0f32];
        let mut opt = Optimizer::new(config, 1);
        let u = apply(&mut opt, &mut p, &[10.0]);
        assert_eq!(u.grad_norm, 10.0);
        assert_eq!(p[0], -0.5, "the gradient clipped to norm 1");
        apply(&mut opt, &mut p, &[1.0]);
        assert!((p[0] - (-0.5 - 0.5 * 1.9)).abs() < 1e-6);
    }

    #[test]
    fn warmup_then_cosine_decay() {
        let c = OptimizerConfig {
            lr: 1.0,
            warmup_steps: 10,
            decay: Decay::Cosine,
            min_lr: 0.1,
            total_steps: Some(110),
            ..OptimizerConfig::default()
        };
        assert!((c.lr_at(0) - 0.1).abs() < 1e-6);
        assert!((c.lr_at(9) - 1.0).abs() < 1e-6);
        assert!((c.lr_at(10) - 1.0).abs() < 1e-6);
        assert!((c.lr_at(60) - 0.55).abs() < 1e-5);
        assert!((c.lr_at(110) - 0.1).abs() < 1e-6);
        let lin = OptimizerConfig { decay: Decay::Linear, ..c };
        assert!((lin.lr_at(60) - 0.55).abs() < 1e-5);
    }
}
