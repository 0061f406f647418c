//! Checkpoints: one file holding the configuration, the network, its data
//! tables (tokenizer, or feature normalization and class names), weights and
//! optimizer state, written atomically (temporary file, then rename).
//!
//! Layout: `EGCK`, u32 LE version, u64 LE length of a JSON header, the JSON
//! header, then f32 LE values: weights, optimizer first moments, optimizer
//! second moments (lengths given in the header).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::data::{FeatureStats, TargetStats};
use crate::network::{LegacyShape, NetSpec};
use crate::optim::Optimizer;
use crate::params::{ModelData, Params};
use crate::prune::Masks;
use crate::tokenize::Vocabulary;

const MAGIC: &[u8; 4] = b"EGCK";
const VERSION: u32 = 1;
/// File name of the checkpoint inside a run folder.
pub const FILE_NAME: &str = "checkpoint.egck";

#[derive(Serialize, Deserialize)]
struct Header {
    config: TrainConfig,
    #[serde(default)]
    vocab: Option<Vocabulary>,
    #[serde(default)]
    features: Option<FeatureStats>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    targets: Option<TargetStats>,
    #[serde(default)]
    network: Option<NetSpec>,
    /// Checkpoints before networks: the version-1 layer sizes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shape: Option<LegacyShape>,
    optimizer_step: u64,
    weights: usize,
    first_moments: usize,
    second_moments: usize,
    #[serde(default)]
    mask_bytes: usize,
}

/// Everything a run needs to continue, or to export.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Settings of the run.
    pub config: TrainConfig,
    /// The fitted tokenizer (token models).
    pub vocab: Option<Vocabulary>,
    /// The feature normalization (feature models).
    pub features: Option<FeatureStats>,
    /// Class names (classifiers) or output names (regression), in output order.
    pub labels: Vec<String>,
    /// The normalization of the targets (regression).
    pub targets: Option<TargetStats>,
    /// Weights.
    pub params: Params,
    /// Optimizer state (its step is the number of optimizer steps taken).
    pub optimizer: Optimizer,
    /// Pruning masks, when the run prunes.
    pub masks: Option<Masks>,
}

/// Which checkpoint of a run folder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The one with the best validation loss (`best/`), when the run kept one; else the last.
    Best,
    /// The last one written.
    Last,
}

/// The checkpoint to use of `path` (a run folder or a checkpoint file), and
/// where it was read: a run folder's `best/` unless `which` is `Last` or the
/// run kept none (runs from before best checkpoints, runs never validated).
pub fn locate(path: &Path, which: Which) -> PathBuf {
    let best = path_in(&path.join(crate::best::BEST_DIR));
    if which == Which::Best && path.is_dir() && best.is_file() {
        best
    } else {
        path_in(path)
    }
}

/// Path of the checkpoint in a run folder (or the file itself).
pub fn path_in(dir: &Path) -> PathBuf {
    if dir.is_file() {
        dir.to_path_buf()
    } else {
        dir.join(FILE_NAME)
    }
}

fn f32s(out: &mut Vec<u8>, v: &[f32]) {
    out.reserve(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

impl Checkpoint {
    /// Writes `DIR/checkpoint.egck` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let header = Header {
            config: self.config.clone(),
            vocab: self.vocab.clone(),
            features: self.features.clone(),
            labels: self.labels.clone(),
            targets: self.targets,
            network: Some(self.params.net.clone()),
            shape: None,
            optimizer_step: self.optimizer.step,
            weights: self.params.data.len(),
            first_moments: self.optimizer.m.len(),
            second_moments: self.optimizer.v.len(),
            mask_bytes: self.masks.as_ref().map_or(0, |m| m.to_bytes().len()),
        };
        let json = serde_json::to_vec(&header)?;
        let mut out = Vec::with_capacity(16 + json.len() + 12 * self.params.data.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        f32s(&mut out, &self.params.data);
        f32s(&mut out, &self.optimizer.m);
        f32s(&mut out, &self.optimizer.v);
        if let Some(m) = &self.masks {
            out.extend_from_slice(&m.to_bytes());
        }
        let path = dir.join(FILE_NAME);
        let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot move checkpoint into {}", path.display()))?;
        Ok(())
    }

    /// Reads a checkpoint from a run folder or a checkpoint file.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = path_in(dir);
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        Checkpoint::from_bytes(&bytes).with_context(|| format!("bad checkpoint {}", path.display()))
    }

    /// Parses checkpoint bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 16 || &bytes[..4] != MAGIC {
            bail!("not an edgegru checkpoint (no EGCK magic)");
        }
        let version = u32::from_le_bytes(bytes[4..8].try_into()?);
        if version != VERSION {
            bail!("checkpoint version {version} is not supported (expected {VERSION})");
        }
        let json_len = u64::from_le_bytes(bytes[8..16].try_into()?) as usize;
        let json = bytes.get(16..16usize.saturating_add(json_len)).context("truncated header")?;
        let header: Header = serde_json::from_slice(json).context("unreadable header")?;
        let body = &bytes[16 + json_len..];
        let counts = [header.weights, header.first_moments, header.second_moments];
        let total: usize = counts.iter().sum();
        if body.len() != total * 4 + header.mask_bytes {
            bail!("checkpoint holds {} bytes of values and masks, expected {}", body.len(), total * 4 + header.mask_bytes);
        }
        let net = match (header.network, header.shape) {
            (Some(n), _) => n,
            (None, Some(s)) => s.into(),
            (None, None) => bail!("checkpoint names no network"),
        };
        net.validate()?;
        if header.weights != net.count() {
            bail!("checkpoint holds {} weights, its network needs {}", header.weights, net.count());
        }
        let mut values = body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        let mut take = |n: usize| values.by_ref().take(n).collect::<Vec<f32>>();
        let data = take(header.weights);
        let m = take(header.first_moments);
        let v = take(header.second_moments);
        if let (Some(v), edgegru_runtime::InputKind::Tokens { vocab, .. }) = (&header.vocab, net.input) {
            if v.len() != vocab {
                bail!("tokenizer has {} tokens, model vocab is {vocab}", v.len());
            }
        }
        let optimizer = Optimizer { config: header.config.optimizer, step: header.optimizer_step, m, v };
        let params = Params { net, data };
        let masks = match header.mask_bytes {
            0 => None,
            _ => Some(Masks::from_bytes(&params, &body[total * 4..])?),
        };
        Ok(Checkpoint {
            config: header.config,
            vocab: header.vocab,
            features: header.features,
            labels: header.labels,
            targets: header.targets,
            params,
            optimizer,
            masks,
        })
    }

    /// The tables a model file needs beside the weights.
    pub fn model_data(&self) -> ModelData<'_> {
        ModelData { vocab: self.vocab.as_ref(), features: self.features.as_ref(), labels: &self.labels, targets: self.targets }
    }
}
