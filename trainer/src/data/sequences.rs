//! Sequences of float feature vectors (sensor and audio features), with a
//! class or a target value each, or none (data to predict): the UCR/UEA
//! `.ts` format, CSV ([`super::table`]), and the per-feature normalization
//! and missing-value fill a feature model stores.
//!
//! `.ts` (sktime's format): `#` comments, `@` header lines (`@dimensions`,
//! `@classLabel true A B C`, `@targetLabel true` for a regression target,
//! `@classLabel false` for none, ...), then after `@data` one case per
//! line: each dimension's values separated by `,`, dimensions separated by
//! `:`, the class label (or the target value) last. Cases may have
//! different lengths (all dimensions of a case have the same). `?` or
//! `NaN` is a missing value. Its features are unnamed: they are read by
//! position.

use std::path::Path;

use anyhow::{bail, Context, Result};
use edgegru_runtime::Fill;
use serde::{Deserialize, Serialize};

use super::table::{self, Columns};

/// What the labels of a file are read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// As the file says (`.ts` headers; a CSV `target` column holds targets, other label columns classes).
    Any,
    /// Class names.
    Classes,
    /// Regression target values.
    Targets,
    /// Left out: a file with or without labels reads the same (prediction).
    Ignore,
}

/// How to read a sequence file.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'a> {
    /// What the labels are.
    pub labels: LabelKind,
    /// CSV: which columns are the id, label and time.
    pub columns: &'a Columns,
    /// CSV: the features to read, by name, in this order (a model's); `None`
    /// or empty: every feature column, in the file's order.
    pub features: Option<&'a [String]>,
}

impl ReadOptions<'static> {
    /// Labels as the file says, CSV columns by their default names, every feature.
    pub fn any() -> Self {
        static DEFAULT: Columns = Columns { id: None, label: None, time: None, group_ids: false };
        ReadOptions { labels: LabelKind::Any, columns: &DEFAULT, features: None }
    }
}

/// Sequences with a class each (classification), a target value each
/// (regression), or neither (unlabelled).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sequences {
    /// Features per step.
    pub channels: usize,
    /// The features' names (a CSV header's; empty for `.ts` files).
    pub names: Vec<String>,
    /// Each sequence's id: a CSV id, or the line where it starts.
    pub ids: Vec<String>,
    /// CSV columns that were not read (not features the model takes).
    pub unused: Vec<String>,
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

    /// Whether each sequence has a class or a target.
    pub fn is_labelled(&self) -> bool {
        !self.labels.is_empty() || !self.targets.is_empty()
    }

    /// Number of missing values (NaN) in all sequences.
    pub fn missing(&self) -> usize {
        self.series.iter().flatten().filter(|v| v.is_nan()).count()
    }

    /// Each missing value filled as a device fills it with `fill` (`Previous`:
    /// the last value of the feature in the same sequence, its `mean` before
    /// any); `Fill::Refuse` leaves them.
    pub fn fill_missing(&mut self, fill: Fill, mean: &[f32]) {
        let c = self.channels.max(1);
        for s in &mut self.series {
            // The filled step before (the means before the first), as a session keeps it.
            let mut filled = mean.to_vec();
            for step in s.chunks_exact_mut(c) {
                fill.apply(step, |i| mean[i], &mut filled);
                step.copy_from_slice(&filled);
            }
        }
    }

    /// The sequences at `indices`, in that order, with their labels or targets.
    pub fn subset(&self, indices: &[usize]) -> Sequences {
        Sequences {
            channels: self.channels,
            names: self.names.clone(),
            ids: indices.iter().filter_map(|&i| self.ids.get(i).cloned()).collect(),
            unused: self.unused.clone(),
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

impl Sequences {
    /// The sequences in the `.ts` format, as [`parse_ts`] reads them back
    /// bit for bit (each value in its shortest exact decimal form, a missing
    /// value as `NaN`): how data given as arrays becomes a run's training
    /// file. Class names with white space, `:` or `,` are refused (the
    /// format cannot hold them), and so are infinite values.
    pub fn to_ts(&self) -> Result<String> {
        use std::fmt::Write;
        let c = self.channels;
        if c == 0 {
            bail!("sequences with no features per step");
        }
        if let Some(bad) = self.classes.iter().find(|n| n.is_empty() || n.contains(|ch: char| ch.is_whitespace() || ch == ':' || ch == ','))
        {
            bail!("class name {bad:?} cannot be written to a .ts file (no white space, ':' or ',')");
        }
        let mut out = format!("@dimensions {c}\n");
        out += &match (self.labels.is_empty(), self.targets.is_empty()) {
            (false, _) => format!("@classLabel true {}\n", self.classes.join(" ")),
            (true, false) => "@targetLabel true\n".to_string(),
            (true, true) => "@classLabel false\n".to_string(),
        };
        out += "@data\n";
        for (i, series) in self.series.iter().enumerate() {
            if series.is_empty() || series.len() % c != 0 {
                bail!("sequence {i} has {} values, not a whole number of steps of {c} features", series.len());
            }
            if series.iter().any(|v| v.is_infinite()) {
                bail!("sequence {i} holds an infinite value");
            }
            let dims: Vec<String> = (0..c)
                .map(|d| {
                    let values: Vec<String> =
                        series.iter().skip(d).step_by(c).map(|v| if v.is_nan() { "NaN".into() } else { v.to_string() }).collect();
                    values.join(",")
                })
                .collect();
            out += &dims.join(":");
            match (self.labels.get(i), self.targets.get(i)) {
                (Some(&l), _) => write!(out, ":{}", self.classes[l as usize])?,
                (None, Some(t)) => write!(out, ":{t}")?,
                (None, None) => {}
            }
            out.push('\n');
        }
        Ok(out)
    }
}

/// Whether a path names a `.ts` file (else it is read as CSV).
pub fn is_ts(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("ts"))
}

/// Reads a `.ts` or CSV file (by extension: `.ts`, else CSV) as `options` say.
pub fn read_sequences(path: &Path, options: &ReadOptions<'_>) -> Result<Sequences> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parsed = if is_ts(path) { parse_ts(&text, options.labels) } else { table::parse_csv(&text, options) };
    let s = parsed.with_context(|| format!("{}", path.display()))?;
    if s.is_empty() {
        bail!("{} holds no sequences", path.display());
    }
    Ok(s)
}

/// A `.ts` value: a number, or NaN for a missing one (`?`, `NaN`).
fn number(v: &str, line: usize) -> Result<f32> {
    table::cell_value(v.trim(), &|| format!("line {line}"))
}

/// A `.ts` label or target: never missing.
fn label_value(v: &str, line: usize) -> Result<f32> {
    let x = number(v, line)?;
    if x.is_nan() {
        bail!("line {line}: the target value is missing");
    }
    Ok(x)
}

/// What a `.ts` header says of its labels.
#[derive(Debug, Clone, PartialEq)]
enum TsLabels {
    /// `@classLabel true A B C`.
    Classes(Vec<String>),
    /// `@targetLabel true`.
    Targets,
    /// `@classLabel false` (or no label line): the cases carry no label.
    None,
}

/// Reads one `.ts` header line into `dims` and `labels`; returns whether it is `@data`.
fn ts_header_line(line: &str, n: usize, dims: &mut Option<usize>, labels: &mut TsLabels) -> Result<bool> {
    let mut words = line.split_whitespace();
    match words.next().map(str::to_ascii_lowercase).as_deref() {
        Some("@dimensions") => {
            *dims =
                Some(words.next().context("@dimensions without a number")?.parse().with_context(|| format!("line {n}: bad @dimensions"))?)
        }
        Some("@classlabel") => {
            *labels = match words.next() {
                Some("true") => TsLabels::Classes(words.map(str::to_string).collect()),
                _ => TsLabels::None,
            }
        }
        Some("@targetlabel") if words.next() == Some("true") => *labels = TsLabels::Targets,
        Some("@data") => return Ok(true),
        Some(h) if h.starts_with('@') => {}
        _ => bail!("line {n}: expected a header line starting with @ before @data"),
    }
    Ok(false)
}

/// One `.ts` case's dimensions (`a,b,c:d,e,f`) as interleaved steps.
fn ts_case(channels: &[&str], n: usize, dims: &mut Option<usize>) -> Result<Vec<f32>> {
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
    Ok(series)
}

/// Parses the UCR/UEA `.ts` format, its labels read as `labels` says
/// (`LabelKind::Ignore`: left out, unseen ones included).
pub fn parse_ts(text: &str, labels: LabelKind) -> Result<Sequences> {
    let (mut dims, mut header) = (None, TsLabels::None);
    let mut in_data = false;
    let mut out = Sequences::default();
    for (n, raw) in text.lines().enumerate() {
        let (line, n) = (raw.trim(), n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !in_data {
            in_data = ts_header_line(line, n, &mut dims, &mut header)?;
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let (label, channels) = match (&header, fields.split_last()) {
            (TsLabels::None, _) => (None, &fields[..]),
            (_, Some((label, channels))) => (Some(label.trim()), channels),
            (_, None) => continue,
        };
        out.series.push(ts_case(channels, n, &mut dims)?);
        out.ids.push(format!("line {n}"));
        match (&header, label) {
            _ if labels == LabelKind::Ignore => {}
            (TsLabels::Targets, Some(label)) => out.targets.push(label_value(label, n)?),
            (TsLabels::Classes(classes), Some(label)) => {
                let Some(index) = classes.iter().position(|c| c == label) else {
                    bail!("line {n}: label {label:?} is not one of @classLabel ({})", classes.join(" "));
                };
                out.labels.push(index as u32);
            }
            _ => {}
        }
    }
    if !in_data {
        bail!("no @data line");
    }
    out.channels = dims.unwrap_or(0);
    if let (TsLabels::Classes(classes), false) = (header, labels == LabelKind::Ignore) {
        out.classes = classes;
    }
    Ok(out)
}

/// The index of class `name`, added to the classes when new.
pub(super) fn class_of(name: &str, out: &mut Sequences) -> u32 {
    match out.classes.iter().position(|c| c == name) {
        Some(i) => i as u32,
        None => {
            out.classes.push(name.to_string());
            (out.classes.len() - 1) as u32
        }
    }
}

/// The normalization of a feature model: `(x - mean) * scale` per feature,
/// from the training data; the int8 scale of the normalized features for
/// integer-only numerics; the features' names; and what a missing value becomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureStats {
    /// Per-feature means.
    pub mean: Vec<f32>,
    /// Per-feature `1 / standard deviation` (1 where a feature is constant).
    pub scale: Vec<f32>,
    /// Largest normalized magnitude in the training data (at most 8) / 127.
    pub quant_scale: f32,
    /// The features' names (a CSV header's; runs from before names, and `.ts` data: none).
    #[serde(default)]
    pub names: Vec<String>,
    /// What a missing value becomes (runs from before this option: refused).
    #[serde(default)]
    pub fill: Fill,
}

impl FeatureStats {
    /// Statistics of every present value of every training sequence (missing
    /// values are left out), with the data's feature names and `fill`.
    pub fn of(data: &Sequences, fill: Fill) -> Self {
        let c = data.channels;
        let (mut sum, mut sq, mut n) = (vec![0.0f64; c], vec![0.0f64; c], vec![0usize; c]);
        for s in &data.series {
            for step in s.chunks_exact(c) {
                for (i, &v) in step.iter().enumerate().filter(|(_, v)| !v.is_nan()) {
                    sum[i] += v as f64;
                    sq[i] += v as f64 * v as f64;
                    n[i] += 1;
                }
            }
        }
        let mean: Vec<f32> = sum.iter().zip(&n).map(|(s, &k)| (s / k.max(1) as f64) as f32).collect();
        let scale: Vec<f32> = (0..c)
            .map(|i| {
                let k = n[i].max(1) as f64;
                let var = (sq[i] / k - (sum[i] / k) * (sum[i] / k)).max(0.0);
                if var > 1e-12 {
                    (1.0 / var.sqrt()) as f32
                } else {
                    1.0
                }
            })
            .collect();
        let mut stats = FeatureStats { mean, scale, quant_scale: 1.0, names: data.names.clone(), fill };
        let max = data.series.iter().flat_map(|s| stats.normalize(s)).filter(|v| !v.is_nan()).fold(0.0f32, |m, v| m.max(v.abs()));
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

    fn ts(text: &str) -> Result<Sequences> {
        parse_ts(text, LabelKind::Any)
    }

    #[test]
    fn ts_files_read_case_by_case_with_the_header_s_class_order() {
        let s = ts(TS).unwrap();
        assert_eq!((s.channels, s.len(), s.classes.clone()), (2, 2, vec!["up".to_string(), "down".to_string()]));
        assert_eq!(s.series[0], vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0], "steps interleave the dimensions");
        assert_eq!((s.labels.clone(), s.ids.clone()), (vec![1, 0], vec!["line 7".to_string(), "line 8".to_string()]));
        assert_eq!((s.steps(0), s.steps(1), s.max_steps()), (3, 2, 3));
        for (bad, why) in [
            (TS.replace("4,5,6", "4,5"), "same, non-zero length"),
            (TS.replace(":down", ":left"), "not one of @classLabel"),
            (TS.replace("0.5", "x"), "not a number"),
            (TS.replace("0.5", "inf"), "infinite"),
            (TS.replace("@data\n", ""), "header line"),
        ] {
            let err = format!("{:#}", ts(&bad).unwrap_err());
            assert!(err.contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn ts_missing_values_and_unlabelled_files_read() {
        let s = ts(&TS.replace("0.5", "?").replace("2,3:", "NaN,3:")).unwrap();
        assert_eq!(s.missing(), 2);
        assert!(s.series[1][0].is_nan() && s.series[0][2].is_nan());
        // @classLabel false: no label field; every field is a dimension.
        let unlabelled = "@dimensions 2\n@classLabel false\n@data\n1,2:3,4\n5:6\n";
        let s = ts(unlabelled).unwrap();
        assert!(!s.is_labelled());
        assert_eq!((s.len(), s.series[0].clone()), (2, vec![1.0, 3.0, 2.0, 4.0]));
        assert_eq!(parse_ts(unlabelled, LabelKind::Ignore).unwrap().series, s.series);
        // Prediction leaves labels out, unseen ones included.
        let p = parse_ts(&TS.replace(":down", ":left"), LabelKind::Ignore).unwrap();
        assert!(!p.is_labelled() && p.classes.is_empty());
        assert_eq!(p.series, ts(TS).unwrap().series);
    }

    #[test]
    fn missing_values_fill_as_the_device_fills_them() {
        let mut s = Sequences { channels: 2, series: vec![vec![f32::NAN, 1.0, 5.0, f32::NAN, f32::NAN, f32::NAN]], ..Default::default() };
        let mean = [10.0, 20.0];
        let mut zero = s.clone();
        zero.fill_missing(Fill::Zero, &mean);
        assert_eq!(zero.series[0], vec![0.0, 1.0, 5.0, 0.0, 0.0, 0.0]);
        let mut m = s.clone();
        m.fill_missing(Fill::Mean, &mean);
        assert_eq!(m.series[0], vec![10.0, 1.0, 5.0, 20.0, 10.0, 20.0]);
        s.fill_missing(Fill::Previous, &mean);
        assert_eq!(s.series[0], vec![10.0, 1.0, 5.0, 1.0, 5.0, 1.0], "the mean before any value, then the last one");
    }

    #[test]
    fn regression_targets_read_from_ts_and_csv() {
        let text = "@problemName Toy\n@dimensions 1\n@targetLabel true\n@data\n1,2,3:0.5\n4,5:-2.25\n";
        let s = ts(text).unwrap();
        assert!(s.is_regression() && s.labels.is_empty() && s.classes.is_empty());
        assert_eq!((s.targets.clone(), s.series[1].clone()), (vec![0.5, -2.25], vec![4.0, 5.0]));
        assert!(format!("{:#}", ts(&text.replace(":0.5", ":high")).unwrap_err()).contains("not a number"));
        assert!(format!("{:#}", ts(&text.replace(":0.5", ":?")).unwrap_err()).contains("target value is missing"));
        let csv = super::super::table::parse_csv("id,target,x\na,1.5,1\na,1.5,2\nb,-3,4\n", &ReadOptions::any()).unwrap();
        assert_eq!((csv.targets.clone(), csv.series.clone()), (vec![1.5, -3.0], vec![vec![1.0, 2.0], vec![4.0]]));
        // A subset keeps each sequence's target; relabelling leaves targets alone.
        let sub = csv.subset(&[1]);
        assert_eq!((sub.targets.clone(), sub.ids.clone()), (vec![-3.0], vec!["b".to_string()]));
        assert_eq!(sub.relabel(&["x".into()]).unwrap().targets, vec![-3.0]);
        let t = TargetStats::of(&[1.0, 3.0]);
        assert_eq!((t.mean, t.std, t.normalize(3.0)), (2.0, 1.0, 1.0));
        assert_eq!(TargetStats::of(&[4.0, 4.0]).std, 1.0, "constant targets are not divided by zero");
    }

    #[test]
    fn normalization_centres_and_scales_each_feature_and_skips_missing_values() {
        let s = ts(TS).unwrap();
        let stats = FeatureStats::of(&s, Fill::Refuse);
        let all: Vec<f32> = s.series.iter().flat_map(|x| stats.normalize(x)).collect();
        for c in 0..2 {
            let v: Vec<f64> = all.iter().skip(c).step_by(2).map(|&x| x as f64).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
            assert!(mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "feature {c}: mean {mean}, variance {var}");
        }
        assert!(stats.quant_scale > 0.0 && stats.quant_scale <= 8.0 / 127.0);
        let gappy = ts(&TS.replace("0.5", "?")).unwrap();
        let g = FeatureStats::of(&gappy, Fill::Mean);
        assert_eq!((g.mean[0], g.fill), (1.875, Fill::Mean), "the mean of 1, 2, 3 and 1.5, the ? left out");
        assert!(g.mean.iter().chain(&g.scale).all(|v| v.is_finite()) && g.quant_scale.is_finite());
    }

    #[test]
    fn sequences_written_as_ts_read_back_bit_for_bit() {
        let tricky = [0.1f32, -1.0e-7, 3.4028235e38, f32::MIN_POSITIVE, 1.0 / 3.0, f32::NAN];
        let s = Sequences {
            channels: 2,
            series: vec![tricky.to_vec(), vec![5.5, -2.0]],
            labels: vec![1, 0],
            classes: vec!["walk".into(), "run".into()],
            ..Sequences::default()
        };
        let back = parse_ts(&s.to_ts().unwrap(), LabelKind::Any).unwrap();
        let bits = |x: &Sequences| x.series.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!((bits(&back), back.labels.clone(), back.classes.clone()), (bits(&s), s.labels.clone(), s.classes.clone()));
        let targets = Sequences { labels: vec![], classes: vec![], targets: vec![0.25, -7.0], ..s.clone() };
        assert_eq!(parse_ts(&targets.to_ts().unwrap(), LabelKind::Any).unwrap().targets, vec![0.25, -7.0]);
        let spaced = Sequences { classes: vec!["slow walk".into(), "run".into()], ..s.clone() };
        assert!(spaced.to_ts().unwrap_err().to_string().contains("cannot be written"));
        let infinite = Sequences { series: vec![vec![f32::INFINITY, 0.0]], labels: vec![0], ..s };
        assert!(infinite.to_ts().unwrap_err().to_string().contains("infinite"));
    }
}
