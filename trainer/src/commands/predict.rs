//! `edgegru predict`: runs every sequence of a `.ts` or CSV file through a
//! feature model, step by step as a device streams it, and prints the class
//! probabilities at the last step (or every step) and the predicted class,
//! or a regressor's values.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde::Serialize;

use super::args::{ColumnArgs, ModelSource};
use super::{say, Status};
use crate::backend::{bytes_for, with_session, Backend};
use crate::data::LabelKind;
use crate::evaluate::{head_of, read_for_model, stream};
use edgegru_runtime::HeadKind;

/// Classify every sequence of a .ts or CSV file (or give a regressor's values), streaming it step by step.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  edgegru predict --model basicmotions --data BasicMotions_TEST.ts
  edgegru predict --model gesture.egru --data recording.csv --json --per-step
  edgegru predict --model basicmotions --data BasicMotions_TEST.ts --exact > host-bits.txt
  edgegru predict --model walks.egru --data today.csv --id-column session

CSV columns are matched by the names the model was trained on, in any order; other columns are left out
(a model that names no features reads them by position, with a note). Missing values (empty cell, ?, NA,
NaN) are filled as the model says (train --fill), or refused. See `edgegru train --help` for the layouts.")]
pub struct Args {
    /// Where the model comes from.
    #[command(flatten)]
    pub source: ModelSource,
    /// The sequences: a .ts file or CSV, its columns by the model's feature names; labels, if any, are
    /// ignored (unlabelled files, @classLabel false, and unseen labels are read).
    #[arg(long)]
    pub data: PathBuf,
    /// CSV columns.
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// One JSON object per line: {"sequence": i, "id": ..., "probabilities": [...], "class": name}, or a
    /// regressor's {"sequence": i, "id": ..., "values": [...]} (with --per-step, "step" too). The id is the
    /// CSV id column's value, or the line where the sequence starts.
    #[arg(long)]
    pub json: bool,
    /// Print every step's probabilities, not only the last step's.
    #[arg(long)]
    pub per_step: bool,
    /// Print every step's outputs as the hexadecimal bits of each f32
    /// (`sequence I step T: 3f7765fe ...`), to compare a device's outputs
    /// with the host's bit for bit.
    #[arg(long, conflicts_with = "json")]
    pub exact: bool,
    /// Engine that runs the model (tract and ort take an ONNX file).
    #[arg(long, value_enum, default_value = "native")]
    pub backend: Backend,
}

#[derive(Serialize)]
struct Line<'c> {
    sequence: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'c str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<&'c [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<&'c str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'c [f32]>,
}

/// One line of output: a sequence's (or step's) class probabilities, or a regressor's values.
fn show(a: &Args, head: HeadKind, names: &[String], (i, id): (usize, Option<&str>), step: Option<usize>, p: &[f32]) {
    let at = step.map_or(String::new(), |s| format!(" step {s}"));
    if a.exact {
        let bits: Vec<String> = p.iter().map(|v| format!("{:08x}", v.to_bits())).collect();
        say(&format!("sequence {i} step {}: {}", step.unwrap_or(0), bits.join(" ")));
    } else if head == HeadKind::Regression {
        if a.json {
            let line = Line { sequence: i, id, step, probabilities: None, class: None, values: Some(p) };
            say(&serde_json::to_string(&line).unwrap_or_default());
        } else {
            let values: Vec<String> =
                p.iter().enumerate().map(|(k, v)| format!("{} {v}", names.get(k).map_or("", String::as_str))).collect();
            say(&format!("sequence {i}{at}: {}", values.join(", ")));
        }
    } else {
        let best = p.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bp), (k, &v)| if v > bp { (k, v) } else { (bi, bp) }).0;
        let class = names.get(best).map_or("", String::as_str);
        if a.json {
            let line = Line { sequence: i, id, step, probabilities: Some(p), class: Some(class), values: None };
            say(&serde_json::to_string(&line).unwrap_or_default());
        } else {
            let probs: Vec<String> = names.iter().zip(p).map(|(c, v)| format!("{c} {v:.4}")).collect();
            say(&format!("sequence {i}{at}: {class}  ({})", probs.join(", ")));
        }
    }
}

/// Runs `edgegru predict`.
pub fn run(a: Args) -> Result<Status> {
    let bytes = a.source.bytes()?;
    let (head, names) = head_of(&bytes)?;
    if head == HeadKind::NextToken {
        bail!("this model reads text (its head is next-token); predict runs feature models: use `edgegru generate` or `edgegru next`");
    }
    let (seqs, notes) = read_for_model(&bytes, &a.data, LabelKind::Ignore, &a.columns.columns())?;
    notes.iter().for_each(|n| eprintln!("note: {n}"));
    let model_bytes = bytes_for(a.backend, &bytes)?;
    with_session(a.backend, &model_bytes, None, |session| {
        for (i, series) in seqs.series.iter().enumerate() {
            let mut t = 0;
            let last = stream(session, series, seqs.channels, |p| {
                if a.per_step || a.exact {
                    show(&a, head, &names, (i, seqs.ids.get(i).map(String::as_str)), Some(t), p);
                }
                t += 1;
            })?;
            if !a.per_step && !a.exact {
                show(&a, head, &names, (i, seqs.ids.get(i).map(String::as_str)), None, &last);
            }
        }
        Ok(())
    })?;
    Ok(Status::Done)
}
