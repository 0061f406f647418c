//! Next-token prediction metrics: loss, perplexity, accuracy, and macro
//! precision, recall and F1 (averaged over the classes that occur as a
//! target or a prediction, as scikit-learn's `average="macro"` does).

use std::collections::HashMap;

use serde::Serialize;

/// Accumulates predictions.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    nll: f64,
    tokens: u64,
    correct: u64,
    /// Per class: (true positives, false positives, false negatives).
    classes: HashMap<u32, (u64, u64, u64)>,
}

/// Final figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Report {
    /// Mean negative log-likelihood, nats/token.
    pub loss: f64,
    /// `exp(loss)`.
    pub perplexity: f64,
    /// Fraction of argmax predictions equal to the target.
    pub accuracy: f64,
    /// Macro precision.
    pub precision: f64,
    /// Macro recall.
    pub recall: f64,
    /// Macro F1.
    pub f1: f64,
    /// Tokens evaluated.
    pub tokens: u64,
}

impl Metrics {
    /// Adds one prediction: the target, the argmax, and `-ln p(target)`.
    pub fn add(&mut self, target: u32, predicted: u32, nll: f64) {
        self.nll += nll;
        self.tokens += 1;
        if target == predicted {
            self.correct += 1;
            self.classes.entry(target).or_default().0 += 1;
        } else {
            self.classes.entry(predicted).or_default().1 += 1;
            self.classes.entry(target).or_default().2 += 1;
        }
    }

    /// The figures so far.
    pub fn report(&self) -> Report {
        let n = self.tokens.max(1) as f64;
        let (mut p, mut r, mut f) = (0.0, 0.0, 0.0);
        for &(tp, fp, fn_) in self.classes.values() {
            let prec = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
            let rec = if tp + fn_ > 0 { tp as f64 / (tp + fn_) as f64 } else { 0.0 };
            p += prec;
            r += rec;
            f += if prec + rec > 0.0 { 2.0 * prec * rec / (prec + rec) } else { 0.0 };
        }
        let k = self.classes.len().max(1) as f64;
        let loss = self.nll / n;
        Report {
            loss,
            perplexity: loss.exp(),
            accuracy: self.correct as f64 / n,
            precision: p / k,
            recall: r / k,
            f1: f / k,
            tokens: self.tokens,
        }
    }
}

/// A classifier's figures over labelled sequences, scored at their last step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassReport {
    /// Sequences evaluated.
    pub sequences: u64,
    /// Fraction of sequences whose most probable class is their label.
    pub accuracy: f64,
    /// Macro precision (over the classes that occur as a label or a prediction).
    pub precision: f64,
    /// Macro recall.
    pub recall: f64,
    /// Macro F1.
    pub f1: f64,
    /// Mean cross-entropy of the label, nats.
    pub loss: f64,
    /// Class names, in the model's order.
    pub classes: Vec<String>,
    /// `confusion[label][predicted]` counts.
    pub confusion: Vec<Vec<u64>>,
}

/// Accumulates a classifier's predictions.
#[derive(Debug, Clone)]
pub struct ClassMetrics {
    m: Metrics,
    classes: Vec<String>,
    confusion: Vec<Vec<u64>>,
}

impl ClassMetrics {
    /// For the classes `classes`.
    pub fn new(classes: &[String]) -> Self {
        let n = classes.len();
        ClassMetrics { m: Metrics::default(), classes: classes.to_vec(), confusion: vec![vec![0; n]; n] }
    }

    /// Adds one sequence: its label and the class probabilities at its last step.
    pub fn add(&mut self, label: u32, probabilities: &[f32]) {
        let predicted =
            probabilities.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bp), (i, &p)| if p > bp { (i, p) } else { (bi, bp) }).0;
        let p = probabilities.get(label as usize).copied().unwrap_or(0.0).max(1e-30);
        self.m.add(label, predicted as u32, -(p as f64).ln());
        if let Some(row) = self.confusion.get_mut(label as usize) {
            if let Some(c) = row.get_mut(predicted) {
                *c += 1;
            }
        }
    }

    /// The figures so far.
    pub fn report(&self) -> ClassReport {
        let r = self.m.report();
        ClassReport {
            sequences: r.tokens,
            accuracy: r.accuracy,
            precision: r.precision,
            recall: r.recall,
            f1: r.f1,
            loss: r.loss,
            classes: self.classes.clone(),
            confusion: self.confusion.clone(),
        }
    }
}

/// A regressor's figures over sequences, each scored at its last step, in
/// the target's own units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RegressionReport {
    /// Sequences evaluated.
    pub sequences: u64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Coefficient of determination: 1 - squared error / the targets' variance
    /// (1 is perfect; 0 is the mean of the targets; negative is worse).
    pub r2: f64,
}

/// Accumulates a regressor's predictions (first output against the target).
#[derive(Debug, Clone, Default)]
pub struct RegressionMetrics {
    /// (target, prediction) pairs.
    pairs: Vec<(f64, f64)>,
}

impl RegressionMetrics {
    /// Adds one sequence: its target and the prediction at its last step.
    pub fn add(&mut self, target: f32, predicted: f32) {
        self.pairs.push((target as f64, predicted as f64));
    }

    /// The figures so far.
    pub fn report(&self) -> RegressionReport {
        let n = self.pairs.len().max(1) as f64;
        let se: f64 = self.pairs.iter().map(|(t, p)| (t - p).powi(2)).sum();
        let ae: f64 = self.pairs.iter().map(|(t, p)| (t - p).abs()).sum();
        let mean = self.pairs.iter().map(|(t, _)| t).sum::<f64>() / n;
        let var: f64 = self.pairs.iter().map(|(t, _)| (t - mean).powi(2)).sum();
        RegressionReport {
            sequences: self.pairs.len() as u64,
            rmse: (se / n).sqrt(),
            mae: ae / n,
            r2: if var > 0.0 { 1.0 - se / var } else { f64::NAN },
        }
    }
}

/// `(argmax, -ln softmax(logits)[target])`, computed in f64.
pub fn score(logits: &[f32], target: u32) -> (u32, f64) {
    let (arg, max) =
        logits.iter().enumerate().fold((0usize, f32::NEG_INFINITY), |(ai, am), (i, &x)| if x > am { (i, x) } else { (ai, am) });
    let sum: f64 = logits.iter().map(|&x| ((x - max) as f64).exp()).sum();
    let nll = sum.ln() - (logits.get(target as usize).copied().unwrap_or(f32::NEG_INFINITY) - max) as f64;
    (arg as u32, nll)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_scores_match_a_hand_computed_example() {
        // y_true = [0, 0, 1, 2], y_pred = [0, 1, 1, 0]
        // class 0: tp 1, fp 1, fn 1 -> P 0.5, R 0.5, F1 0.5
        // class 1: tp 1, fp 1, fn 0 -> P 0.5, R 1.0, F1 2/3
        // class 2: tp 0, fp 0, fn 1 -> P 0,   R 0,   F1 0
        let mut m = Metrics::default();
        for (t, p) in [(0, 0), (0, 1), (1, 1), (2, 0)] {
            m.add(t, p, 1.0);
        }
        let r = m.report();
        assert!((r.accuracy - 0.5).abs() < 1e-12);
        assert!((r.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.recall - 0.5).abs() < 1e-12);
        assert!((r.f1 - (0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((r.perplexity - std::f64::consts::E).abs() < 1e-12);
    }

    #[test]
    fn class_reports_count_a_confusion_matrix() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut m = ClassMetrics::new(&names);
        m.add(0, &[0.7, 0.2, 0.1]);
        m.add(0, &[0.2, 0.7, 0.1]);
        m.add(2, &[0.1, 0.1, 0.8]);
        let r = m.report();
        assert_eq!(r.confusion, vec![vec![1, 1, 0], vec![0, 0, 0], vec![0, 0, 1]]);
        assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.loss - (-(0.7f32 as f64).ln() - (0.2f32 as f64).ln() - (0.8f32 as f64).ln()) / 3.0).abs() < 1e-9);
    }

    #[test]
    fn regression_reports_rmse_mae_and_r2() {
        let mut m = RegressionMetrics::default();
        for (t, p) in [(1.0, 2.0), (2.0, 2.0), (3.0, 1.0)] {
            m.add(t, p);
        }
        let r = m.report();
        // Errors -1, 0, 2: squared 5 / 3, absolute 1; targets' variance sum 2.
        assert!((r.rmse - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r.mae - 1.0).abs() < 1e-12);
        assert!((r.r2 - (1.0 - 5.0 / 2.0)).abs() < 1e-12);
        assert_eq!(r.sequences, 3);
    }

    #[test]
    fn score_is_log_softmax() {
        let (arg, nll) = score(&[0.0, 1.0, 2.0], 0);
        assert_eq!(arg, 2);
        let z: f64 = [0.0f64, 1.0, 2.0].iter().map(|x| x.exp()).sum();
        assert!((nll - z.ln()).abs() < 1e-9);
    }
}
