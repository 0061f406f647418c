//! Training history: CSV and JSON tables, TensorBoard scalar event files, and
//! an SVG plot of the loss curves.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One row of history.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Optimizer steps taken.
    pub step: u64,
    /// Epoch (fractional: step / steps per epoch).
    pub epoch: f64,
    /// Mean training loss since the previous record, nats/token.
    pub loss: f64,
    /// Training accuracy since the previous record.
    pub accuracy: f64,
    /// Validation loss, where measured.
    pub val_loss: Option<f64>,
    /// Validation accuracy, where measured.
    pub val_accuracy: Option<f64>,
    /// `exp(val_loss)` where measured, else `exp(loss)`.
    pub perplexity: f64,
    /// Learning rate.
    pub lr: f64,
    /// Training tokens per second since the previous record.
    pub tokens_per_sec: f64,
    /// Seconds since the start of the run (resumed runs included).
    pub elapsed_sec: f64,
    /// Fraction of the prunable weights removed.
    #[serde(default)]
    pub sparsity: f64,
}

/// Writes history rows to `history.csv`, `history.json`, TensorBoard events
/// under `tensorboard/`, and `loss.svg`, in a run folder.
pub struct History {
    dir: PathBuf,
    /// All rows so far (earlier runs of a resumed training included).
    pub records: Vec<Record>,
    events: Option<std::fs::File>,
}

/// The CSV columns, one per value of a row (`csv_row`).
const CSV_HEADER: &str = "step,epoch,loss,accuracy,val_loss,val_accuracy,perplexity,lr,tokens_per_sec,elapsed_sec,sparsity";

impl History {
    /// Opens the history of a run folder, keeping rows up to `keep_until_step`
    /// (a resumed run drops rows written after its checkpoint).
    pub fn open(dir: &Path, keep_until_step: u64) -> Result<Self> {
        let mut records = History::read(dir)?;
        records.retain(|r| r.step <= keep_until_step);
        let tb = dir.join("tensorboard");
        std::fs::create_dir_all(&tb)?;
        let name = format!(
            "events.out.tfevents.{}.edgegru.{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs(),
            std::process::id()
        );
        let mut events = std::fs::File::create(tb.join(name))?;
        events.write_all(&tfrecord(&event_file_version()))?;
        Ok(History { dir: dir.to_path_buf(), records, events: Some(events) })
    }

    /// The rows of a run folder's history (none when it has no history yet).
    pub fn read(dir: &Path) -> Result<Vec<Record>> {
        let json = dir.join("history.json");
        match std::fs::read(&json) {
            Ok(b) => serde_json::from_slice(&b).with_context(|| format!("unreadable {}", json.display())),
            Err(_) => Ok(Vec::new()),
        }
    }

    /// Adds a row and rewrites the tables and the plot.
    pub fn push(&mut self, r: Record) -> Result<()> {
        self.records.push(r);
        if let Some(f) = self.events.as_mut() {
            let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs_f64();
            let mut scalars = vec![
                ("loss", r.loss),
                ("accuracy", r.accuracy),
                ("perplexity", r.perplexity),
                ("lr", r.lr),
                ("tokens_per_sec", r.tokens_per_sec),
            ];
            if let (Some(vl), Some(va)) = (r.val_loss, r.val_accuracy) {
                scalars.push(("val_loss", vl));
                scalars.push(("val_accuracy", va));
            }
            let ev = scalar_event(wall, r.step as i64, &scalars);
            f.write_all(&tfrecord(&ev))?;
            f.flush()?;
        }
        self.write_files()
    }

    /// Sets the validation figures of the last row (written again).
    pub fn set_last_validation(&mut self, val_loss: f64, val_accuracy: f64) -> Result<()> {
        if let Some(r) = self.records.pop() {
            self.push(Record { val_loss: Some(val_loss), val_accuracy: Some(val_accuracy), perplexity: val_loss.exp(), ..r })?;
        }
        Ok(())
    }

    fn write_files(&self) -> Result<()> {
        let mut csv = String::from(CSV_HEADER);
        csv.push('\n');
        for r in &self.records {
            csv.push_str(&csv_row(r));
            csv.push('\n');
        }
        std::fs::write(self.dir.join("history.csv"), csv)?;
        std::fs::write(self.dir.join("history.json"), serde_json::to_vec_pretty(&self.records)?)?;
        std::fs::write(self.dir.join("loss.svg"), loss_svg(&self.records))?;
        Ok(())
    }
}

/// One history row as CSV, in [`CSV_HEADER`]'s column order.
fn csv_row(r: &Record) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.6}"));
    format!(
        "{},{:.4},{:.6},{:.6},{},{},{:.4},{:.6e},{:.0},{:.1},{:.4}",
        r.step,
        r.epoch,
        r.loss,
        r.accuracy,
        opt(r.val_loss),
        opt(r.val_accuracy),
        r.perplexity,
        r.lr,
        r.tokens_per_sec,
        r.elapsed_sec,
        r.sparsity
    )
}

/// An SVG line plot of training and validation loss against steps.
pub fn loss_svg(records: &[Record]) -> String {
    let (w, h, m) = (640.0, 400.0, 50.0);
    let max_step = records.iter().map(|r| r.step).max().unwrap_or(1).max(1) as f64;
    let losses = records.iter().flat_map(|r| [Some(r.loss), r.val_loss]).flatten().filter(|x| x.is_finite());
    let (lo, hi) = losses.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo < hi { (lo, hi) } else { (lo - 1.0, lo + 1.0) };
    let x = |s: u64| m + (w - 2.0 * m) * s as f64 / max_step;
    let y = |l: f64| h - m - (h - 2.0 * m) * (l - lo) / (hi - lo);
    let line = |pts: Vec<(u64, f64)>, color: &str| {
        let p: Vec<String> = pts.iter().map(|&(s, l)| format!("{:.1},{:.1}", x(s), y(l))).collect();
        format!("<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>", p.join(" "))
    };
    let train = line(records.iter().map(|r| (r.step, r.loss)).collect(), "#1f77b4");
    let val = line(records.iter().filter_map(|r| r.val_loss.map(|v| (r.step, v))).collect(), "#d62728");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
<line x1=\"{m}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{b}\" stroke=\"black\"/>\
<text x=\"{m}\" y=\"{t}\">loss (nats/token): train (blue), validation (red)</text>\
<text x=\"5\" y=\"{yhi:.1}\">{hi:.3}</text><text x=\"5\" y=\"{ylo:.1}\">{lo:.3}</text>\
<text x=\"{r}\" y=\"{sb}\" text-anchor=\"end\">step {max_step}</text>{train}{val}</svg>\n",
        b = h - m,
        r = w - m,
        t = m - 20.0,
        yhi = y(hi),
        ylo = y(lo),
        sb = h - m + 20.0,
    )
}

// --- TensorBoard event files: TFRecord framing around Event protobufs. ---

/// CRC-32C (Castagnoli), as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
pub fn tfrecord(data: &[u8]) -> Vec<u8> {
    let len = (data.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc(data).to_le_bytes());
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, ((field << 3) | 2) as u64);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn event_file_version() -> Vec<u8> {
    let mut ev = Vec::new();
    ev.push(0x09); // wall_time, field 1, fixed64
    ev.extend_from_slice(&0f64.to_le_bytes());
    field_bytes(&mut ev, 3, b"brain.Event:2");
    ev
}

/// An `Event { wall_time, step, summary { value { tag, simple_value } ... } }`.
pub fn scalar_event(wall_time: f64, step: i64, scalars: &[(&str, f64)]) -> Vec<u8> {
    let mut summary = Vec::new();
    for (tag, v) in scalars {
        let mut value = Vec::new();
        field_bytes(&mut value, 1, tag.as_bytes());
        value.push(0x15); // simple_value, field 2, fixed32
        value.extend_from_slice(&(*v as f32).to_le_bytes());
        field_bytes(&mut summary, 1, &value);
    }
    let mut ev = Vec::new();
    ev.push(0x09);
    ev.extend_from_slice(&wall_time.to_le_bytes());
    ev.push(0x10); // step, field 2, varint
    varint(&mut ev, step as u64);
    field_bytes(&mut ev, 5, &summary);
    ev
}

/// Reads the scalars `(step, tag, value)` back from an event file, checking
/// every record's CRCs: what TensorBoard's loader does.
pub fn read_scalars(bytes: &[u8]) -> Result<Vec<(i64, String, f32)>> {
    fn read_varint(b: &[u8], i: &mut usize) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i).context("truncated varint")?;
            *i += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        anyhow::bail!("varint too long")
    }
    /// One protobuf field: number, wire type, numeric value, bytes (length-delimited).
    type Field<'a> = (u32, u8, u64, &'a [u8]);
    /// Fields of one message.
    fn fields(b: &[u8]) -> Result<Vec<Field<'_>>> {
        let mut i = 0;
        let mut out = Vec::new();
        while i < b.len() {
            let key = read_varint(b, &mut i)?;
            let (field, wire) = ((key >> 3) as u32, (key & 7) as u8);
            match wire {
                0 => out.push((field, wire, read_varint(b, &mut i)?, &b[0..0])),
                1 => {
                    out.push((field, wire, u64::from_le_bytes(b.get(i..i + 8).context("truncated")?.try_into()?), &b[0..0]));
                    i += 8;
                }
                5 => {
                    out.push((field, wire, u32::from_le_bytes(b.get(i..i + 4).context("truncated")?.try_into()?) as u64, &b[0..0]));
                    i += 4;
                }
                2 => {
                    let n = read_varint(b, &mut i)? as usize;
                    out.push((field, wire, 0, b.get(i..i + n).context("truncated")?));
                    i += n;
                }
                _ => anyhow::bail!("unsupported wire type {wire}"),
            }
        }
        Ok(out)
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let len_bytes = bytes.get(i..i + 8).context("truncated record length")?;
        let crc = u32::from_le_bytes(bytes.get(i + 8..i + 12).context("truncated")?.try_into()?);
        anyhow::ensure!(crc == masked_crc(len_bytes), "bad length CRC");
        let len = u64::from_le_bytes(len_bytes.try_into()?) as usize;
        let data = bytes.get(i + 12..i + 12 + len).context("truncated record")?;
        let dcrc = u32::from_le_bytes(bytes.get(i + 12 + len..i + 16 + len).context("truncated")?.try_into()?);
        anyhow::ensure!(dcrc == masked_crc(data), "bad data CRC");
        i += 16 + len;
        let ev = fields(data)?;
        let step = ev.iter().find(|f| f.0 == 2).map_or(0, |f| f.2 as i64);
        for (_, _, _, summary) in ev.iter().filter(|f| f.0 == 5) {
            for (_, _, _, value) in fields(summary)?.iter().filter(|f| f.0 == 1) {
                let vf = fields(value)?;
                let tag = vf.iter().find(|f| f.0 == 1).map(|f| String::from_utf8_lossy(f.3).into_owned()).unwrap_or_default();
                let v = vf.iter().find(|f| f.0 == 2).map_or(f32::NAN, |f| f32::from_bits(f.2 as u32));
                out.push((step, tag, v));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_header_names_every_column_of_a_row() {
        let r = Record {
            step: 7,
            epoch: 0.5,
            loss: 1.0,
            accuracy: 0.5,
            val_loss: None,
            val_accuracy: Some(0.25),
            perplexity: 2.7,
            lr: 1e-3,
            tokens_per_sec: 100.0,
            elapsed_sec: 1.0,
            sparsity: 0.75,
        };
        let row = csv_row(&r);
        let names: Vec<&str> = CSV_HEADER.split(',').collect();
        let values: Vec<&str> = row.split(',').collect();
        assert_eq!(names.len(), values.len(), "{CSV_HEADER}\n{row}");
        assert_eq!(values[names.iter().position(|n| *n == "sparsity").unwrap()], "0.7500");
        assert_eq!(values[names.iter().position(|n| *n == "step").unwrap()], "7");
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn event_files_read_back() {
        let mut file = tfrecord(&event_file_version());
        file.extend(tfrecord(&scalar_event(1.5, 300, &[("loss", 1.25), ("val_loss", 1.5)])));
        let scalars = read_scalars(&file).unwrap();
        assert_eq!(scalars, vec![(300, "loss".to_string(), 1.25), (300, "val_loss".to_string(), 1.5)]);
        let mut broken = file.clone();
        let n = broken.len();
        broken[n - 6] ^= 1;
        assert!(read_scalars(&broken).is_err());
    }
}
