//! Gradual magnitude pruning (Zhu & Gupta, 2017) in 8x4 blocks — 8 output
//! rows x 4 consecutive inputs, the shape the runtime's int8 block-sparse
//! kernel consumes — or element by element, for comparison.
//!
//! Sparsity follows a cubic schedule from 0 at `start` to the target at
//! `end`, updated every `every` steps. At each update the blocks with the
//! least energy (sum of squares) among those still alive are removed until
//! each group reaches its target; a removed block never comes back.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::network::{NetSpec, Slot};
use crate::params::Params;

/// Block or element granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum PruneShape {
    /// 8x4 blocks (what the sparse kernel runs).
    Block,
    /// Single weights (for comparison; the runtime stores them densely).
    Unstructured,
}

/// A group of weights that gets its own pruning target: a gate's rows of a
/// GRU matrix, or a whole dense or output matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneGroup {
    /// Its name in `--prune-density`: `input.z`, `recurrent.n`, `dense`,
    /// `output` for the first layers; `gru1.input.z`, `dense1`, ... above them.
    pub name: String,
    /// The matrix.
    pub slot: Slot,
    /// For GRU matrices: gate 0 = z, 1 = r, 2 = n.
    pub gate: Option<usize>,
}

/// The matrices pruning applies to, in mask order: each GRU layer's input and
/// recurrent weights, each dense layer, the output layer.
pub fn matrices(net: &NetSpec) -> Vec<Slot> {
    let grus = (0..net.grus.len()).flat_map(|k| [Slot::GruInput(k), Slot::GruRecurrent(k)]);
    grus.chain((0..net.dense.len()).map(Slot::Dense)).chain([Slot::Output]).collect()
}

/// Every pruning group of the network, with its name.
pub fn groups(net: &NetSpec) -> Vec<PruneGroup> {
    let mut out = Vec::new();
    for k in 0..net.grus.len() {
        let prefix = if k == 0 { String::new() } else { format!("gru{k}.") };
        for (kind, slot) in [("input", Slot::GruInput(k)), ("recurrent", Slot::GruRecurrent(k))] {
            for (g, gate) in ["z", "r", "n"].iter().enumerate() {
                out.push(PruneGroup { name: format!("{prefix}{kind}.{gate}"), slot, gate: Some(g) });
            }
        }
    }
    for j in 0..net.dense.len() {
        out.push(PruneGroup { name: if j == 0 { "dense".into() } else { format!("dense{j}") }, slot: Slot::Dense(j), gate: None });
    }
    out.push(PruneGroup { name: "output".into(), slot: Slot::Output, gate: None });
    out
}

/// Group names of the version-1 network, in the order the first
/// configurations stored their sparsities.
const V1_GROUPS: [&str; 8] = ["input.z", "input.r", "input.n", "recurrent.z", "recurrent.r", "recurrent.n", "dense", "output"];

/// Pruning settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruneConfig {
    /// Final sparsity (fraction of weights removed) of every group not named in `groups`.
    #[serde(default)]
    pub target: f32,
    /// Final sparsity of named groups.
    #[serde(default)]
    #[serde(rename = "parts")]
    pub groups: Vec<(String, f32)>,
    /// Configurations before stacked layers: the sparsity of each version-1 group.
    #[serde(default, skip_serializing)]
    sparsity: Option<[f32; 8]>,
    /// First step of the schedule.
    pub start: u64,
    /// Step at which the final sparsity is reached.
    pub end: u64,
    /// Update the masks every this many steps.
    pub every: u64,
    /// Keep the blocks holding the diagonal of each recurrent gate matrix.
    pub keep_diagonal: bool,
    /// Blocks or single weights.
    pub shape: PruneShape,
}

impl PruneConfig {
    /// One target for every group, overridden by `overrides` like
    /// `recurrent.n=0.6,output=0.5` (densities: the fraction kept). Group names
    /// are checked against the network when pruning starts.
    pub fn new(target: f32, overrides: &str, start: u64, end: u64, every: u64, keep_diagonal: bool, shape: PruneShape) -> Result<Self> {
        if !(0.0..1.0).contains(&target) {
            bail!("--prune-to must be a sparsity in [0, 1)");
        }
        if end <= start || every == 0 {
            bail!("pruning needs --prune-start < --prune-end and --prune-every >= 1");
        }
        let mut groups = Vec::new();
        for item in overrides.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, value)) = item.split_once('=') else { bail!("--prune-density takes NAME=DENSITY items, got {item:?}") };
            let density: f32 = value.trim().parse().map_err(|_| anyhow::anyhow!("density {value:?} is not a number"))?;
            if !(0.0..=1.0).contains(&density) || density == 0.0 {
                bail!("density of {name} must be in (0, 1]");
            }
            groups.push((name.trim().to_string(), 1.0 - density));
        }
        Ok(PruneConfig { target, groups, sparsity: None, start, end, every, keep_diagonal, shape })
    }

    /// Final sparsity of the group named `name`.
    pub fn sparsity_of(&self, name: &str) -> f32 {
        if let Some(legacy) = &self.sparsity {
            return V1_GROUPS.iter().position(|p| *p == name).map_or(0.0, |i| legacy[i]);
        }
        self.groups.iter().rev().find(|(n, _)| n == name).map_or(self.target, |(_, s)| *s)
    }

    /// Checks that every named group exists in `net`.
    pub fn check_groups(&self, net: &NetSpec) -> Result<()> {
        let all = groups(net);
        for (name, _) in &self.groups {
            if !all.iter().any(|p| &p.name == name) {
                bail!(
                    "unknown pruning group {name:?}; this network's groups are {}",
                    all.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        Ok(())
    }

    /// Sparsity target at `step` for a group whose final sparsity is `target`:
    /// `target * (1 - (1 - (step - start) / (end - start))^3)`, clamped to the schedule.
    pub fn target_at(&self, step: u64, target: f32) -> f32 {
        if step <= self.start {
            return 0.0;
        }
        let frac = ((step - self.start) as f64 / (self.end - self.start) as f64).min(1.0);
        (target as f64 * (1.0 - (1.0 - frac).powi(3))) as f32
    }

    /// Whether the masks are updated after optimizer step `step`.
    pub fn updates_at(&self, step: u64) -> bool {
        step > self.start && step <= self.end + self.every && (step - self.start).is_multiple_of(self.every)
    }
}

/// Element masks of the prunable matrices (1 kept, 0 removed), in [`matrices`] order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Masks {
    /// One mask per prunable matrix.
    pub masks: Vec<Vec<u8>>,
}

/// Sparsity of one group after an update.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSparsity {
    /// Group name.
    pub name: String,
    /// Scheduled target.
    pub target: f32,
    /// Fraction of weights now removed.
    pub achieved: f32,
}

impl Masks {
    /// Everything kept.
    pub fn dense(p: &Params) -> Self {
        Masks { masks: matrices(&p.net).iter().map(|&m| vec![1u8; p.get(m).len()]).collect() }
    }

    /// Zeroes removed weights.
    pub fn apply(&self, p: &mut Params) {
        for (&m, mask) in matrices(&p.net.clone()).iter().zip(&self.masks) {
            for (w, &k) in p.get_mut(m).iter_mut().zip(mask) {
                if k == 0 {
                    *w = 0.0;
                }
            }
        }
    }

    /// Raises every group to its scheduled sparsity at `step`.
    pub fn update(&mut self, p: &Params, cfg: &PruneConfig, step: u64) -> Vec<GroupSparsity> {
        let mats = matrices(&p.net);
        let mut report = Vec::new();
        for group in groups(&p.net) {
            let mi = mats.iter().position(|&m| m == group.slot).unwrap_or(0);
            let (rows, cols) = p.net.shape(group.slot);
            let h = rows / 3;
            let (r0, r1) = match group.gate {
                Some(g) => (g * h, (g + 1) * h),
                None => (0, rows),
            };
            let w = p.get(group.slot);
            let mask = &mut self.masks[mi];
            let target = cfg.target_at(step, cfg.sparsity_of(&group.name));
            let (bh, bw) = match cfg.shape {
                PruneShape::Block => (8, 4),
                PruneShape::Unstructured => (1, 1),
            };
            let recurrent = matches!(group.slot, Slot::GruRecurrent(_));
            // Units: blocks (clipped to this group's rows) with their energy.
            let mut units: Vec<(f64, usize, usize)> = Vec::new();
            let mut alive_weights = 0usize;
            let total = (r1 - r0) * cols;
            for rb in (r0..r1).step_by(bh) {
                for cb in (0..cols).step_by(bw) {
                    let (re, ce) = ((rb + bh).min(r1), (cb + bw).min(cols));
                    if mask[rb * cols + cb] == 0 {
                        continue;
                    }
                    let protected = cfg.keep_diagonal && recurrent && (rb..re).any(|r| (cb..ce).contains(&(r - r0)));
                    let n = (re - rb) * (ce - cb);
                    alive_weights += n;
                    if protected {
                        continue;
                    }
                    let energy: f64 =
                        (rb..re).flat_map(|r| (cb..ce).map(move |c| (r, c))).map(|(r, c)| (w[r * cols + c] as f64).powi(2)).sum();
                    units.push((energy, rb, cb));
                }
            }
            let want_removed = (target as f64 * total as f64).round() as usize;
            let mut removed = total - alive_weights;
            units.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
            for &(_, rb, cb) in &units {
                if removed >= want_removed {
                    break;
                }
                let (re, ce) = ((rb + bh).min(r1), (cb + bw).min(cols));
                for r in rb..re {
                    for c in cb..ce {
                        mask[r * cols + c] = 0;
                    }
                }
                removed += (re - rb) * (ce - cb);
            }
            report.push(GroupSparsity { name: group.name, target, achieved: removed as f32 / total.max(1) as f32 });
        }
        report
    }

    /// Fraction of the prunable matrices' weights removed.
    pub fn sparsity(&self) -> f32 {
        let (zero, all) = self.masks.iter().flatten().fold((0usize, 0usize), |(z, a), &k| (z + (k == 0) as usize, a + 1));
        zero as f32 / all.max(1) as f32
    }

    /// Flat bytes for checkpoints.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.masks.concat()
    }

    /// From checkpoint bytes.
    pub fn from_bytes(p: &Params, bytes: &[u8]) -> Result<Self> {
        let lens: Vec<usize> = matrices(&p.net).iter().map(|&m| p.get(m).len()).collect();
        if bytes.len() != lens.iter().sum::<usize>() {
            bail!("checkpoint masks hold {} bytes, expected {}", bytes.len(), lens.iter().sum::<usize>());
        }
        let mut masks = Vec::new();
        let mut at = 0;
        for n in lens {
            masks.push(bytes[at..at + n].to_vec());
            at += n;
        }
        Ok(Masks { masks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::LegacyShape;

    fn cfg(target: f32) -> PruneConfig {
        PruneConfig::new(target, "", 100, 400, 50, false, PruneShape::Block).unwrap()
    }

    #[test]
    fn cubic_schedule() {
        let c = cfg(0.8);
        assert_eq!(c.target_at(100, 0.8), 0.0);
        assert!((c.target_at(250, 0.8) - 0.8 * (1.0 - 0.125)).abs() < 1e-6);
        assert!((c.target_at(400, 0.8) - 0.8).abs() < 1e-6);
        assert!((c.target_at(9999, 0.8) - 0.8).abs() < 1e-6);
        let steps: Vec<u64> = (0..600).filter(|&s| c.updates_at(s)).collect();
        assert_eq!(steps, vec![150, 200, 250, 300, 350, 400, 450]);
    }

    #[test]
    fn removes_lowest_energy_blocks_and_never_revives_them() {
        let net: NetSpec = LegacyShape { vocab: 16, emb: 8, hidden: 16, dense: 16 }.into();
        let mut p = Params::init(net, 1);
        let mut masks = Masks::dense(&p);
        let c = PruneConfig::new(0.75, "output=0.5,recurrent.n=1.0", 0, 4, 1, true, PruneShape::Block).unwrap();
        let r1 = masks.update(&p, &c, 1);
        let before = masks.clone();
        masks.apply(&mut p);
        // Grow the removed weights back (as an optimizer step could); the mask keeps them out.
        p.get_mut(Slot::GruRecurrent(0)).iter_mut().for_each(|w| *w += 10.0);
        let r2 = masks.update(&p, &c, 4);
        for (b, a) in before.masks.iter().flatten().zip(masks.masks.iter().flatten()) {
            assert!(!(*b == 0 && *a == 1), "a removed weight came back");
        }
        masks.apply(&mut p);
        let get = |r: &[GroupSparsity], n: &str| r.iter().find(|x| x.name == n).unwrap().achieved;
        assert!(get(&r1, "dense") > 0.0 && get(&r1, "dense") < 0.75);
        assert!((get(&r2, "dense") - 0.75).abs() < 0.01);
        assert!((get(&r2, "output") - 0.5).abs() < 0.01);
        assert_eq!(get(&r2, "recurrent.n"), 0.0);
        // Block shape: the dense matrix's mask is constant on every 8x4 block.
        let m = &masks.masks[2];
        for rb in (0..16).step_by(8) {
            for cb in (0..16).step_by(4) {
                let k = m[rb * 16 + cb];
                assert!((rb..rb + 8).all(|r| (cb..cb + 4).all(|c| m[r * 16 + c] == k)));
            }
        }
        // The recurrent diagonal is kept.
        let u = &masks.masks[1];
        for g in 0..3 {
            for i in 0..16 {
                assert_eq!(u[(g * 16 + i) * 16 + i], 1);
            }
        }
    }

    #[test]
    fn lowest_energy_goes_first() {
        let net: NetSpec = LegacyShape { vocab: 8, emb: 4, hidden: 8, dense: 8 }.into();
        let mut p = Params::init(net, 2);
        // Dense is 8x8: two blocks. Make block (0, 4..8) tiny.
        for r in 0..8 {
            for c in 4..8 {
                p.get_mut(Slot::Dense(0))[r * 8 + c] = 1e-4;
            }
        }
        let mut masks = Masks::dense(&p);
        let c = PruneConfig::new(0.5, "", 0, 1, 1, false, PruneShape::Block).unwrap();
        masks.update(&p, &c, 1);
        let m = &masks.masks[2];
        assert!((0..8).all(|r| m[r * 8 + 4] == 0 && m[r * 8] == 1));
    }
}

#[cfg(test)]
mod network_tests {
    use super::*;

    #[test]
    fn stacked_layers_have_their_own_named_groups_and_old_configurations_read() {
        let net = NetSpec::language_model(10, 4, &[8, 8], 8);
        let names: Vec<String> = groups(&net).into_iter().map(|p| p.name).collect();
        assert!(names.contains(&"gru1.recurrent.n".to_string()) && names.contains(&"input.z".to_string()));
        assert_eq!(matrices(&net).len(), 6);
        let c = PruneConfig::new(0.5, "gru1.recurrent.n=0.25", 0, 10, 1, false, PruneShape::Block).unwrap();
        c.check_groups(&net).unwrap();
        assert_eq!(c.sparsity_of("gru1.recurrent.n"), 0.75);
        assert_eq!(c.sparsity_of("output"), 0.5);
        assert!(PruneConfig::new(0.5, "gru3.input.z=0.5", 0, 10, 1, false, PruneShape::Block).unwrap().check_groups(&net).is_err());
        // A configuration written before stacked layers: eight sparsities in the version-1 group order.
        let old = r#"{"sparsity":[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8],"start":0,"end":10,"every":1,"keep_diagonal":false,"shape":"Block"}"#;
        let c: PruneConfig = serde_json::from_str(old).unwrap();
        assert_eq!((c.sparsity_of("input.z"), c.sparsity_of("recurrent.n"), c.sparsity_of("output")), (0.1, 0.6, 0.8));
    }
}
