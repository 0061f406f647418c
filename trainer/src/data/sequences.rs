//! Labelled sequences of float feature vectors (sensor and audio features):
//! the UCR/UEA `.ts` format and CSV, and the per-feature normalization a
//! feature model stores.
//!
//! - `.ts` (sktime's format): `#` comments, `@` header lines (`@dimensions`,
//!   `@classLabel true A B C`, or `@targetLabel true` for a regression
//!   target, ...), then after `@data` one case per line: each dimension's
//!   values separated by `,`, dimensions separated by `:`, the class label
//!   (or the target value) last. Cases may have different lengths (all
//!   dimensions of a case have the same).
//! - CSV, one step per row, with a header naming the columns `id` and
//!   `label` (or `target`, a number, for regression; any order) and the
//!   feature columns: consecutive rows with the same `id` form one
//!   sequence. Or, without such a header, the UCR layout: one univariate
//!   sequence per row, the label first.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Labelled sequences: a class per sequence (classification) or a target
/// value per sequence (regression).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sequences {
    /// Features per step.
    pub channels: usize,
    /// Each sequence, steps one after the other: `[len][channels]`.
    pub series: Vec<Vec<f32>>,
    /// Classification: each sequence's class, an index into `classes` (empty for regression).
    pub labels: Vec<u32>,
    /// Class names, in the file's order (`@classLabel`, or first appearance in CSV).
    pub classes: Vec<String>,
    /// Regression: each sequence's target value (empty for classification).
    pub targets: Vec<f32>,
}

impl Sequences {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Steps of sequence `i`.
    pub fn steps(&self, i: usize) -> usize {
        self.series[i].len() / self.channels.max(1)
    }

    /// The longest sequence's steps.
    pub fn max_steps(&self) -> usize {
        (0..self.len()).map(|i| self.steps(i)).max().unwrap_or(0)
    }

    /// Whether the sequences carry regression targets (not classes).
    pub fn is_regression(&self) -> bool {
        !self.targets.is_empty()
    }

    /// The sequences at `indices`, in that order, with their labels or targets.
    pub fn subset(&self, indices: &[usize]) -> Sequences {
        Sequences {
            channels: self.channels,
            series: indices.iter().map(|&i| self.series[i].clone()).collect(),
            labels: if self.labels.is_empty() { Vec::new() } else { indices.iter().map(|&i| self.labels[i]).collect() },
            classes: self.classes.clone(),
            targets: if self.targets.is_empty() { Vec::new() } else { indices.iter().map(|&i| self.targets[i]).collect() },
        }
    }

    /// A validation split of about `fraction` of the sequences, drawn by
    /// `seed`: stratified by class for classifiers (each class keeps its
    /// share, at least one sequence in training), shuffled for regression;
    /// whole sequences, so no sequence is in both. Returns (train, validation).
    pub fn split(&self, fraction: f64, seed: u64) -> (Sequences, Sequences) {
        let order = super::shuffled(self.len(), seed, super::SPLIT_ROUND);
        let groups: Vec<Vec<usize>> = if self.is_regression() || self.labels.is_empty() {
            vec![order]
        } else {
            (0..self.classes.len() as u32).map(|c| order.iter().copied().filter(|&i| self.labels[i] == c).collect()).collect()
        };
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for g in groups {
            let n_val = ((g.len() as f64 * fraction).round() as usize).min(g.len().saturating_sub(1));
            val.extend_from_slice(&g[..n_val]);
            train.extend_from_slice(&g[n_val..]);
        }
        train.sort_unstable();
        val.sort_unstable();
        (self.subset(&train), self.subset(&val))
    }

    /// The same sequences labelled with `classes`' indices (for a test file
    /// read with the training file's class list); unknown labels are an
    /// error. Regression targets stay as they are.
    pub fn relabel(mut self, classes: &[String]) -> Result<Self> {
        if self.is_regression() {
            return Ok(self);
        }
        for l in &mut self.labels {
            let name = &self.classes[*l as usize];
            *l = classes
                .iter()
                .position(|c| c == name)
                .with_context(|| format!("class {name:?} is not one of the model's ({})", classes.join(", ")))? as u32;
        }
        self.classes = classes.to_vec();
        Ok(self)
    }
}

/// Reads a `.ts` or CSV file (by extension: `.ts`, else CSV).
pub fn read_sequences(path: &Path) -> Result<Sequences> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("ts")) {
        parse_ts(&text)
    } else {
        parse_csv(&text)
    };
    let s = parsed.with_context(|| format!("{}", path.display()))?;
    if s.is_empty() {
        bail!("{} holds no sequences", path.display());
    }
    Ok(s)
}

fn number(v: &str, line: usize) -> Result<f32> {
    let x: f32 = v.trim().parse().with_context(|| format!("line {line}: {v:?} is not a number"))?;
    if !x.is_finite() {
        bail!("line {line}: {v:?} is not a finite number (missing values are not supported)");
    }
    Ok(x)
}

/// Parses the UCR/UEA `.ts` format.
pub fn parse_ts(text: &str) -> Result<Sequences> {
    let mut dims: Option<usize> = None;
    let mut classes: Vec<String> = Vec::new();
    let mut regression = false;
    let mut in_data = false;
    let mut out = Sequences::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let n = n + 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            let mut words = line.split_whitespace();
            match words.next().map(str::to_ascii_lowercase).as_deref() {
                Some("@dimensions") => {
                    dims = Some(words.next().context("@dimensions without a number")?.parse().context("bad @dimensions")?)
                }
                Some("@classlabel") => {
                    if words.next() != Some("true") {
                        bail!("line {n}: the file has no class labels (@classLabel false); edgegru trains classifiers on labelled data");
                    }
                    classes = words.map(str::to_string).collect();
                }
                Some("@targetlabel") => {
                    if words.next() != Some("true") {
                        bail!("line {n}: the file has no target values (@targetLabel false); edgegru trains regressors on labelled data");
                    }
                    regression = true;
                }
                Some("@missing") if words.next() == Some("true") => bail!("line {n}: files with missing values are not supported"),
                Some("@data") => in_data = true,
                Some(h) if h.starts_with('@') => {}
                _ => bail!("line {n}: expected a header line starting with @ before @data"),
            }
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let Some((label, channels)) = fields.split_last() else { continue };
        if channels.is_empty() {
            bail!("line {n}: no values before the label");
        }
        let d = *dims.get_or_insert(channels.len());
        if channels.len() != d {
            bail!("line {n}: {} dimensions, the header says {d}", channels.len());
        }
        let values: Vec<Vec<f32>> =
            channels.iter().map(|c| c.split(',').map(|v| number(v, n)).collect::<Result<Vec<f32>>>()).collect::<Result<_>>()?;
        let len = values[0].len();
        if values.iter().any(|v| v.len() != len) || len == 0 {
            bail!("line {n}: the dimensions of a case must have the same, non-zero length");
        }
        let mut series = Vec::with_capacity(len * d);
        for t in 0..len {
            series.extend(values.iter().map(|v| v[t]));
        }
        let label = label.trim();
        if regression {
            out.targets.push(number(label, n)?);
        } else {
            let Some(index) = classes.iter().position(|c| c == label) else {
                bail!("line {n}: label {label:?} is not one of @classLabel ({})", classes.join(" "));
            };
            out.labels.push(index as u32);
        }
        out.series.push(series);
    }
    if !in_data {
        bail!("no @data line");
    }
    out.channels = dims.unwrap_or(0);
    out.classes = classes;
    Ok(out)
}

/// Parses CSV: a long layout with `id` and `label` (or `target`) columns, one
/// step per row; or the UCR layout, one univariate sequence per row, label first.
pub fn parse_csv(text: &str) -> Result<Sequences> {
    let mut lines = text.lines().enumerate().map(|(n, l)| (n + 1, l.trim())).filter(|(_, l)| !l.is_empty());
    let Some((_, first)) = lines.clone().next() else { bail!("the CSV file is empty") };
    let header: Vec<String> = first.split(',').map(|h| h.trim().to_ascii_lowercase()).collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    match (column("id"), column("label"), column("target")) {
        (Some(id), Some(label), _) => {
            lines.next();
            parse_long(&header, lines, id, label, false)
        }
        (Some(id), None, Some(target)) => {
            lines.next();
            parse_long(&header, lines, id, target, true)
        }
        _ => parse_ucr(lines),
    }
}

/// The index of class `name`, added to the classes when new.
fn class_of(name: &str, out: &mut Sequences) -> u32 {
    match out.classes.iter().position(|c| c == name) {
        Some(i) => i as u32,
        None => {
            out.classes.push(name.to_string());
            (out.classes.len() - 1) as u32
        }
    }
}

/// The long CSV layout: consecutive rows with the same `id` form one
/// sequence, whose label (or target value) is in column `label`.
fn parse_long<'t>(
    header: &[String],
    lines: impl Iterator<Item = (usize, &'t str)>,
    id_col: usize,
    label_col: usize,
    regression: bool,
) -> Result<Sequences> {
    let features: Vec<usize> = (0..header.len()).filter(|&c| c != id_col && c != label_col).collect();
    if features.is_empty() {
        bail!("the CSV header names no feature columns besides {} and {}", header[id_col], header[label_col]);
    }
    let mut out = Sequences { channels: features.len(), ..Sequences::default() };
    let mut current: Option<(String, String)> = None;
    for (n, line) in lines {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            bail!("line {n}: {} cells, the header has {}", cells.len(), header.len());
        }
        let (id, label) = (cells[id_col], cells[label_col]);
        match &current {
            Some((cid, clabel)) if cid == id => {
                if clabel != label {
                    bail!("line {n}: sequence {id:?} changes its {}", header[label_col]);
                }
            }
            _ => {
                current = Some((id.to_string(), label.to_string()));
                if regression {
                    out.targets.push(number(label, n)?);
                } else {
                    let l = class_of(label, &mut out);
                    out.labels.push(l);
                }
                out.series.push(Vec::new());
            }
        }
        let row = features.iter().map(|&c| number(cells[c], n)).collect::<Result<Vec<f32>>>()?;
        if let Some(s) = out.series.last_mut() {
            s.extend(row);
        }
    }
    Ok(out)
}

/// The UCR CSV layout: one univariate sequence per row, its label first.
fn parse_ucr<'t>(lines: impl Iterator<Item = (usize, &'t str)>) -> Result<Sequences> {
    let mut out = Sequences { channels: 1, ..Sequences::default() };
    for (n, line) in lines {
        let mut cells = line.split(',');
        let label = cells.next().unwrap_or("").trim();
        let values = cells.map(|v| number(v, n)).collect::<Result<Vec<f32>>>()?;
        if values.is_empty() {
            bail!("line {n}: no values after the label (without an id,label header, each row is one sequence: label first)");
        }
        let l = class_of(label, &mut out);
        out.series.push(values);
        out.labels.push(l);
    }
    Ok(out)
}

/// The normalization of a feature model: `(x - mean) * scale` per feature,
/// from the training data; and the int8 scale of the normalized features
/// for integer-only numerics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// Per-feature means.
    pub mean: Vec<f32>,
    /// Per-feature `1 / standard deviation` (1 where a feature is constant).
    pub scale: Vec<f32>,
    /// Largest normalized magnitude in the training data (at most 8) / 127.
    pub quant_scale: f32,
}

impl FeatureStats {
    /// Statistics of every step of every training sequence.
    pub fn of(data: &Sequences) -> Self {
        let c = data.channels;
        let (mut sum, mut sq, mut n) = (vec![0.0f64; c], vec![0.0f64; c], 0usize);
        for s in &data.series {
            for step in s.chunks_exact(c) {
                for (i, &v) in step.iter().enumerate() {
                    sum[i] += v as f64;
                    sq[i] += v as f64 * v as f64;
                }
                n += 1;
            }
        }
        let n = n.max(1) as f64;
        let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
        let scale: Vec<f32> = sq
            .iter()
            .zip(&sum)
            .map(|(q, s)| {
                let var = (q / n - (s / n) * (s / n)).max(0.0);
                if var > 1e-12 {
                    (1.0 / var.sqrt()) as f32
                } else {
                    1.0
                }
            })
            .collect();
        let mut stats = FeatureStats { mean, scale, quant_scale: 1.0 };
        let max = data.series.iter().flat_map(|s| stats.normalize(s)).fold(0.0f32, |m, v| m.max(v.abs()));
        stats.quant_scale = max.clamp(1.0, 8.0) / 127.0;
        stats
    }

    /// A sequence's steps, normalized.
    pub fn normalize(&self, series: &[f32]) -> Vec<f32> {
        let c = self.mean.len().max(1);
        series.iter().enumerate().map(|(i, &v)| (v - self.mean[i % c]) * self.scale[i % c]).collect()
    }
}

/// The normalization of a regression target while training, `(y - mean) /
/// std` from the training data; an exported model's output layer undoes it,
/// so the file gives values in the data's own units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    /// Mean of the training targets.
    pub mean: f32,
    /// Their standard deviation (1 when they are all equal).
    pub std: f32,
}

impl TargetStats {
    /// The statistics of `targets`.
    pub fn of(targets: &[f32]) -> Self {
        let n = targets.len().max(1) as f64;
        let mean = targets.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = targets.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        TargetStats { mean: mean as f32, std: if var > 1e-12 { var.sqrt() as f32 } else { 1.0 } }
    }

    /// A target as the network learns it.
    pub fn normalize(&self, y: f32) -> f32 {
        (y - self.mean) / self.std
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "# a comment\n@problemName Toy\n@dimensions 2\n@equalLength false\n@classLabel true up down\n@data\n1,2,3:4,5,6:down\n0.5,1.5:2,2:up\n";

    #[test]
    fn ts_files_read_case_by_case_with_the_header_s_class_order() {
        let s = parse_ts(TS).unwrap();
        assert_eq!((s.channels, s.len(), s.classes.clone()), (2, 2, vec!["up".to_string(), "down".to_string()]));
        assert_eq!(s.series[0], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], "steps interleave the dimensions");
        assert_eq!(s.labels, vec![1, 0]);
        assert_eq!((s.steps(0), s.steps(1), s.max_steps()), (3, 2, 3));
        for (bad, why) in [
            (TS.replace("4,5,6", "4,5"), "same, non-zero length"),
            (TS.replace(":down", ":left"), "not one of @classLabel"),
            (TS.replace("0.5", "?"), "not a number"),
            (TS.replace("@classLabel true", "@classLabel false"), "no class labels"),
            (TS.replace("@data\n", ""), "header line"),
        ] {
            let err = format!("{:#}", parse_ts(&bad).unwrap_err());
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn csv_files_read_in_both_layouts() {
        let long = "id,label,x,y\na,walk,1,2\na,walk,3,4\nb,run,5,6\n";
        let s = parse_csv(long).unwrap();
        assert_eq!((s.channels, s.len(), s.labels.clone()), (2, 2, vec![0, 1]));
        assert_eq!(s.series[0], vec![1.0, 2.0, 3.0, 4.0]);
        let ucr = "1,0.1,0.2,0.3\n2,0.4,0.5\n";
        let s = parse_csv(ucr).unwrap();
        assert_eq!((s.channels, s.classes.clone(), s.series[1].clone()), (1, vec!["1".to_string(), "2".to_string()], vec![0.4, 0.5]));
        assert!(parse_csv("id,label,x\na,walk,1\na,run,2\n").unwrap_err().to_string().contains("changes its label"));
    }

    #[test]
    fn regression_targets_read_from_ts_and_csv() {
        let ts = "@problemName Toy\n@dimensions 1\n@targetLabel true\n@data\n1,2,3:0.5\n4,5:-2.25\n";
        let s = parse_ts(ts).unwrap();
        assert!(s.is_regression() && s.labels.is_empty() && s.classes.is_empty());
        assert_eq!((s.targets.clone(), s.series[1].clone()), (vec![0.5, -2.25], vec![4.0, 5.0]));
        assert!(format!("{:#}", parse_ts(&ts.replace(":0.5", ":high")).unwrap_err()).contains("not a number"));
        let csv = parse_csv("id,target,x\na,1.5,1\na,1.5,2\nb,-3,4\n").unwrap();
        assert_eq!((csv.targets.clone(), csv.series.clone()), (vec![1.5, -3.0], vec![vec![1.0, 2.0], vec![4.0]]));
        assert!(parse_csv("id,target,x\na,1,1\na,2,2\n").unwrap_err().to_string().contains("changes its target"));
        // A subset keeps each sequence's target; relabelling leaves targets alone.
        let sub = csv.subset(&[1]);
        assert_eq!((sub.targets.clone(), sub.relabel(&["x".into()]).unwrap().targets), (vec![-3.0], vec![-3.0]));
        let t = TargetStats::of(&[1.0, 3.0]);
        assert_eq!((t.mean, t.std, t.normalize(3.0)), (2.0, 1.0, 1.0));
        assert_eq!(TargetStats::of(&[4.0, 4.0]).std, 1.0, "constant targets are not divided by zero");
    }

    #[test]
    fn normalization_centres_and_scales_each_feature() {
        let s = parse_ts(TS).unwrap();
        let stats = FeatureStats::of(&s);
        let all: Vec<f32> = s.series.iter().flat_map(|x| stats.normalize(x)).collect();
        for c in 0..2 {
            let v: Vec<f64> = all.iter().skip(c).step_by(2).map(|&x| x as f64).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "feature {c}: mean {mean}, variance {var}");
        }
        assert!(stats.quant_scale > 0.0 && stats.quant_scale <= 8.0 / 127.0);
    }
}
