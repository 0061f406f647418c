//! The best validation of a run: which step to keep in `best/`, when to warn
//! that validation has stopped improving, and when to stop early.

use crate::history::Record;

/// Folder of a run that holds the checkpoint with the best validation loss.
pub const BEST_DIR: &str = "best";

/// Validations without a better loss before a warning.
pub const WARN_AFTER: u32 = 3;

/// The best validation so far.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Best {
    /// Its step.
    pub step: u64,
    /// Its validation loss.
    pub val_loss: f64,
}

/// What a validation means for the run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The best so far: keep this step's checkpoint in `best/`.
    Improved,
    /// Not better (the line to show, the first time it has been so for a while).
    Stale(Option<String>),
    /// Not better for `--patience` validations: stop.
    Stop(String),
    /// Too early to count (pruning has not reached its final sparsity).
    Ignored,
}

/// Tracks the best validation of a run.
#[derive(Debug, Clone)]
pub struct BestTracker {
    best: Option<Best>,
    stale: u32,
    warned: bool,
    patience: Option<u32>,
    from_step: u64,
}

impl BestTracker {
    /// Validations count from `from_step` on (a pruning run's final step of
    /// pruning: a less pruned model is not a better one); `patience` stops
    /// the run after that many validations without a better loss. A resumed
    /// run starts from the best of its `history` (when its `best/` exists).
    pub fn new(patience: Option<u32>, from_step: u64, history: &[Record], has_best: bool) -> Self {
        let best = history
            .iter()
            .filter(|r| has_best && r.step >= from_step)
            .filter_map(|r| r.val_loss.map(|val_loss| Best { step: r.step, val_loss }))
            .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss));
        BestTracker { best, stale: 0, warned: false, patience, from_step }
    }

    /// The best validation so far.
    pub fn best(&self) -> Option<Best> {
        self.best
    }

    /// Takes the validation loss of `step`.
    pub fn update(&mut self, step: u64, val_loss: f64) -> Verdict {
        if step < self.from_step || !val_loss.is_finite() {
            return Verdict::Ignored;
        }
        match self.best {
            Some(b) if val_loss >= b.val_loss => {}
            _ => {
                self.best = Some(Best { step, val_loss });
                self.stale = 0;
                return Verdict::Improved;
            }
        }
        self.stale += 1;
        let best = self.best.map_or(String::new(), |b| format!("the best, {:.4}, was at step {}", b.val_loss, b.step));
        if self.patience.is_some_and(|p| self.stale >= p) {
            return Verdict::Stop(format!("validation loss has not improved for {} validations ({best}): stopping early", self.stale));
        }
        if self.stale >= WARN_AFTER && !self.warned {
            self.warned = true;
            let line = format!(
                "warning: validation loss has not improved for {} validations ({best}); the best checkpoint is kept in {BEST_DIR}/ (--patience N stops a run)",
                self.stale
            );
            return Verdict::Stale(Some(line));
        }
        Verdict::Stale(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_step_is_kept_a_warning_comes_once_and_patience_stops() {
        let mut t = BestTracker::new(Some(5), 0, &[], false);
        assert_eq!(t.update(10, 2.0), Verdict::Improved);
        assert_eq!(t.update(20, 1.5), Verdict::Improved);
        assert_eq!(t.update(30, 1.6), Verdict::Stale(None));
        assert_eq!(t.update(40, 1.5), Verdict::Stale(None), "equal is not better");
        assert!(matches!(t.update(50, 1.7), Verdict::Stale(Some(w)) if w.contains("3 validations") && w.contains("step 20")));
        assert_eq!(t.update(60, 1.8), Verdict::Stale(None), "the warning comes once");
        assert!(matches!(t.update(70, 1.9), Verdict::Stop(why) if why.contains("5 validations")));
        assert_eq!(t.best(), Some(Best { step: 20, val_loss: 1.5 }));
    }

    #[test]
    fn validations_before_the_final_sparsity_do_not_count() {
        let mut t = BestTracker::new(None, 100, &[], false);
        assert_eq!(t.update(50, 0.5), Verdict::Ignored);
        assert_eq!(t.update(100, 0.9), Verdict::Improved);
        assert_eq!(t.best().map(|b| b.step), Some(100));
    }
}
