//! What a training run feeds its engine: batches of text windows (language
//! models) or of labelled feature sequences (classifiers), each epoch in a
//! seeded order; and the validation pass.

use anyhow::{bail, Result};

use crate::data::{self, shuffled, FeatureStats, Sequences, TargetStats, WindowOffsets};
use crate::engine::{Batch, BatchInput, BatchTarget, Engine, Stats};

/// Batches for one run.
pub trait Feed {
    /// Optimizer steps per epoch.
    fn steps_per_epoch(&self) -> u64;
    /// Scored positions for training and for validation (tokens or sequences).
    fn sizes(&self) -> (usize, usize);
    /// The batch of optimizer step `step` (0-based, counted over the whole run).
    fn batch(&mut self, step: u64) -> Batch<'_>;
    /// Loss and accuracy of the engine's parameters on the validation data.
    fn validate(&mut self, engine: &mut dyn Engine) -> Result<Stats>;
}

/// Gathers the inputs and targets of the windows starting at `starts`.
pub fn gather(ids: &[u32], starts: &[usize], seq: usize, inputs: &mut Vec<u32>, targets: &mut Vec<u32>) {
    inputs.clear();
    targets.clear();
    for &s in starts {
        inputs.extend_from_slice(&ids[s..s + seq]);
        targets.extend_from_slice(&ids[s + 1..s + seq + 1]);
    }
}

/// Windows of a token sequence: each epoch cuts the training text as its
/// [`WindowOffsets`] say and visits the windows in a seeded order.
pub struct TextFeed {
    train: Vec<u32>,
    val: Vec<u32>,
    seq: usize,
    batch: usize,
    offsets: WindowOffsets,
    seed: u64,
    per_epoch: u64,
    epoch: Option<u64>,
    starts: Vec<usize>,
    order: Vec<usize>,
    inputs: Vec<u32>,
    targets: Vec<u32>,
}

impl TextFeed {
    /// Batches of `batch` windows of `seq` tokens over `train`; `val` for validation.
    pub fn new(train: Vec<u32>, val: Vec<u32>, seq: usize, batch: usize, offsets: WindowOffsets, seed: u64) -> Result<Self> {
        let per_epoch = (offsets.windows_per_epoch(train.len(), seq) / batch) as u64;
        if per_epoch == 0 {
            bail!(
                "the training text ({} tokens) is too short for one batch of {batch} windows of {seq} tokens; lower --batch or --seq-len",
                train.len()
            );
        }
        Ok(TextFeed {
            train,
            val,
            seq,
            batch,
            offsets,
            seed,
            per_epoch,
            epoch: None,
            starts: Vec::new(),
            order: Vec::new(),
            inputs: Vec::new(),
            targets: Vec::new(),
        })
    }
}

impl Feed for TextFeed {
    fn steps_per_epoch(&self) -> u64 {
        self.per_epoch
    }

    fn sizes(&self) -> (usize, usize) {
        (self.train.len(), self.val.len())
    }

    fn batch(&mut self, step: u64) -> Batch<'_> {
        let epoch = step / self.per_epoch;
        if self.epoch != Some(epoch) {
            self.starts = self.offsets.epoch_starts(self.train.len(), self.seq, self.seed, epoch);
            self.order = shuffled(self.starts.len(), self.seed, epoch);
            self.epoch = Some(epoch);
        }
        let pos = (step % self.per_epoch) as usize * self.batch;
        let starts: Vec<usize> = self.order[pos..pos + self.batch].iter().map(|&i| self.starts[i]).collect();
        gather(&self.train, &starts, self.seq, &mut self.inputs, &mut self.targets);
        Batch { input: BatchInput::Tokens(&self.inputs), target: BatchTarget::NextTokens(&self.targets), batch: self.batch, seq: self.seq }
    }

    fn validate(&mut self, engine: &mut dyn Engine) -> Result<Stats> {
        let starts = data::window_starts(self.val.len(), self.seq);
        let (mut inputs, mut targets) = (Vec::new(), Vec::new());
        let mut total = Stats::default();
        for chunk in starts.chunks(self.batch) {
            gather(&self.val, chunk, self.seq, &mut inputs, &mut targets);
            let b =
                Batch { input: BatchInput::Tokens(&inputs), target: BatchTarget::NextTokens(&targets), batch: chunk.len(), seq: self.seq };
            total.merge(&engine.evaluate(&b)?);
        }
        Ok(total)
    }
}

/// Labelled sequences (normalized), in batches padded after each sequence's
/// end to the batch's longest; each sequence is scored at its last step.
pub struct SequenceFeed {
    train: Sequences,
    val: Sequences,
    batch: usize,
    seed: u64,
    per_epoch: u64,
    epoch: Option<u64>,
    order: Vec<usize>,
    buf: PaddedBatch,
}

/// A batch of sequences padded to the same length.
#[derive(Default)]
struct PaddedBatch {
    features: Vec<f32>,
    labels: Vec<u32>,
    values: Vec<f32>,
    lengths: Vec<usize>,
    seq: usize,
}

impl PaddedBatch {
    /// Sequences `which` of `data` (its targets already normalized, for regression).
    fn fill(&mut self, data: &Sequences, which: &[usize]) {
        let c = data.channels;
        self.seq = which.iter().map(|&i| data.steps(i)).max().unwrap_or(1);
        self.features.clear();
        self.labels.clear();
        self.values.clear();
        self.lengths.clear();
        for &i in which {
            let s = &data.series[i];
            self.features.extend_from_slice(s);
            self.features.resize(self.features.len() + self.seq * c - s.len(), 0.0);
            match data.targets.get(i) {
                Some(&y) => self.values.push(y),
                None => self.labels.push(data.labels[i]),
            }
            self.lengths.push(data.steps(i));
        }
    }

    fn batch(&self) -> Batch<'_> {
        let target = if self.values.is_empty() {
            BatchTarget::Classes { labels: &self.labels, lengths: &self.lengths }
        } else {
            BatchTarget::Values { values: &self.values, lengths: &self.lengths }
        };
        Batch { input: BatchInput::Features(&self.features), target, batch: self.lengths.len(), seq: self.seq }
    }
}

impl SequenceFeed {
    /// Batches of `batch` sequences of `train` (features normalized with
    /// `stats`, regression targets with `targets`); `val` for validation.
    pub fn new(
        train: &Sequences,
        val: &Sequences,
        stats: &FeatureStats,
        targets: Option<TargetStats>,
        batch: usize,
        seed: u64,
    ) -> Result<Self> {
        if train.len() < batch {
            bail!("the training data holds {} sequences, fewer than one batch of {batch}; lower --batch", train.len());
        }
        let normalize = |s: &Sequences| Sequences {
            series: s.series.iter().map(|x| stats.normalize(x)).collect(),
            targets: s.targets.iter().map(|&y| targets.map_or(y, |t| t.normalize(y))).collect(),
            ..s.clone()
        };
        Ok(SequenceFeed {
            train: normalize(train),
            val: normalize(val),
            batch,
            seed,
            per_epoch: (train.len() / batch) as u64,
            epoch: None,
            order: Vec::new(),
            buf: PaddedBatch::default(),
        })
    }
}

impl Feed for SequenceFeed {
    fn steps_per_epoch(&self) -> u64 {
        self.per_epoch
    }

    fn sizes(&self) -> (usize, usize) {
        (self.train.len(), self.val.len())
    }

    fn batch(&mut self, step: u64) -> Batch<'_> {
        let epoch = step / self.per_epoch;
        if self.epoch != Some(epoch) {
            self.order = shuffled(self.train.len(), self.seed, epoch);
            self.epoch = Some(epoch);
        }
        let pos = (step % self.per_epoch) as usize * self.batch;
        let which: Vec<usize> = self.order[pos..pos + self.batch].to_vec();
        self.buf.fill(&self.train, &which);
        self.buf.batch()
    }

    fn validate(&mut self, engine: &mut dyn Engine) -> Result<Stats> {
        let mut total = Stats::default();
        let all: Vec<usize> = (0..self.val.len()).collect();
        let mut buf = PaddedBatch::default();
        for chunk in all.chunks(self.batch) {
            buf.fill(&self.val, chunk);
            total.merge(&engine.evaluate(&buf.batch())?);
        }
        Ok(total)
    }
}
