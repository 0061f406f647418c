//! CSV sequences, read by column name.
//!
//! With a header (a first row that is not all numbers), one row is one step:
//!
//! - the **id** column (`--id-column`, default the first of `id`,
//!   `sequence`, `sequence_id`, `series_id`, `session`) names each row's sequence; a
//!   sequence's rows are consecutive (an id that comes back after another is
//!   refused, or gathered with `--group-ids`). Without an id column, a run
//!   of rows with the same label is one sequence, and an unlabelled file is
//!   one sequence.
//! - the **label** column (`--label-column`, default the first of `label`,
//!   `class`, `target`, `y`) holds the class name, or for regression the
//!   target value; each row of a sequence repeats it.
//! - the **time** column (`--time-column`, default `time` or `timestamp`) is
//!   not a feature; within a sequence it must not go back.
//! - every other column is a feature, named by its header. A model stores
//!   the names it was trained on and reads them by name, in any column
//!   order; columns it does not know are left out.
//!
//! Cells may be quoted (`"1.5"`); an empty cell, `?`, `NA` or `NaN` is a
//! missing value. Without a header, each row is one univariate sequence with
//! its label first (the UCR archive's CSV layout).

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::sequences::{LabelKind, ReadOptions, Sequences};

/// Default names of the id column, in the order they are looked for.
pub const ID_NAMES: [&str; 5] = ["id", "sequence", "sequence_id", "series_id", "session"];
/// Default names of the label column.
pub const LABEL_NAMES: [&str; 4] = ["label", "class", "target", "y"];
/// Default names of the time column.
pub const TIME_NAMES: [&str; 2] = ["time", "timestamp"];

/// Which CSV columns are not features (each `None`: looked for by its default names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Columns {
    /// The column naming each row's sequence.
    pub id: Option<String>,
    /// The column holding the class name or target value.
    pub label: Option<String>,
    /// A time column, not a feature.
    pub time: Option<String>,
    /// Gather the rows of an id wherever they are (else an id that comes back is refused).
    #[serde(default)]
    pub group_ids: bool,
}

/// Whether a cell is a missing value: empty, `?`, `NA` or `NaN`.
pub fn is_missing(cell: &str) -> bool {
    cell.is_empty() || cell == "?" || cell.eq_ignore_ascii_case("na") || cell.eq_ignore_ascii_case("nan")
}

/// A cell as a number: NaN when missing; an error naming where otherwise.
pub fn cell_value(cell: &str, at: &dyn Fn() -> String) -> Result<f32> {
    if is_missing(cell) {
        return Ok(f32::NAN);
    }
    let x: f32 = cell.parse().map_err(|_| anyhow::anyhow!("{}: {cell:?} is not a number", at()))?;
    if x.is_infinite() {
        bail!("{}: {cell:?} is infinite", at());
    }
    Ok(x)
}

/// The rows of a CSV text, each with its line number; cells trimmed and unquoted.
fn rows(text: &str) -> Result<Vec<(u64, Vec<String>)>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.context("not a valid CSV file")?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(str::is_empty) {
            continue;
        }
        out.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(out)
}

/// Parses CSV as `options` say: by header names, or the UCR layout when
/// the first row is all numbers.
pub fn parse_csv(text: &str, options: &ReadOptions<'_>) -> Result<Sequences> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let rows = rows(text)?;
    let Some((_, first)) = rows.first() else { bail!("the CSV file is empty") };
    let numeric = |c: &String| is_missing(c) || c.parse::<f32>().is_ok();
    if first.iter().all(numeric) {
        return parse_ucr(&rows, options);
    }
    let header = Header::new(first, options)?;
    parse_long(&header, &rows[1..], options)
}

/// The header's columns: which is which.
struct Header {
    names: Vec<String>,
    id: Option<usize>,
    label: Option<usize>,
    time: Option<usize>,
    /// The feature columns read, in the order the model takes them.
    features: Vec<usize>,
    /// Columns left out (neither the id, label, time nor a feature read).
    unused: Vec<String>,
}

impl Header {
    fn new(first: &[String], options: &ReadOptions<'_>) -> Result<Self> {
        let names = first.to_vec();
        let find = |given: &Option<String>, defaults: &[&str], flag: &str| -> Result<Option<usize>> {
            match given {
                Some(name) => match names.iter().position(|h| h == name) {
                    Some(i) => Ok(Some(i)),
                    None => bail!("{flag} {name:?}: no such column (the header has {})", names.join(", ")),
                },
                None => Ok(defaults.iter().find_map(|d| names.iter().position(|h| h.eq_ignore_ascii_case(d)))),
            }
        };
        let id = find(&options.columns.id, &ID_NAMES, "--id-column")?;
        let label = find(&options.columns.label, &LABEL_NAMES, "--label-column")?;
        let time = find(&options.columns.time, &TIME_NAMES, "--time-column")?;
        let special = [id, label, time];
        if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)) {
            bail!("the header names column {:?} twice", dup.1);
        }
        let candidates: Vec<usize> = (0..names.len()).filter(|c| !special.contains(&Some(*c))).collect();
        let features = match options.features {
            Some(wanted) if !wanted.is_empty() => {
                let mut picked = Vec::new();
                for name in wanted {
                    match candidates.iter().find(|&&c| &names[c] == name) {
                        Some(&c) => picked.push(c),
                        None => bail!(
                            "no column {name:?}: the model reads the features {} (the file has {})",
                            wanted.join(", "),
                            candidates.iter().map(|&c| names[c].as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    }
                }
                picked
            }
            _ => candidates.clone(),
        };
        if features.is_empty() {
            bail!("the header names no feature columns (it has {})", names.join(", "));
        }
        let unused = candidates.iter().filter(|c| !features.contains(c)).map(|&c| names[c].clone()).collect();
        Ok(Header { names, id, label, time, features, unused })
    }

    /// The label column, or an error that says how to name it.
    fn label_column(&self, rows: &[(u64, Vec<String>)]) -> Result<usize> {
        if let Some(l) = self.label {
            return Ok(l);
        }
        let holds_text = |c: usize| rows.iter().any(|(_, r)| r.get(c).is_some_and(|v| v.parse::<f32>().is_err() && !is_missing(v)));
        let text: Vec<String> = self.features.iter().filter(|&&c| holds_text(c)).map(|&c| format!("{:?}", self.names[c])).collect();
        let hint = match text.len() {
            0 => String::new(),
            1 => format!("; column {} holds text: if it is the label, pass --label-column {}", text[0], text[0].trim_matches('"')),
            _ => format!(
                "; columns {} hold text: name the label with --label-column (and the sequence id with --id-column)",
                text.join(", ")
            ),
        };
        bail!("no label column (looked for {}){hint}", LABEL_NAMES.join(", "))
    }
}

/// One row's sequence key: its id, or without an id column its label.
fn key_of(header: &Header, row: &[String], label: Option<usize>) -> String {
    match (header.id, label) {
        (Some(i), _) => row[i].clone(),
        (None, Some(l)) => row[l].clone(),
        (None, None) => String::new(),
    }
}

/// The long layout: one step per row, sequences by id.
fn parse_long(header: &Header, rows: &[(u64, Vec<String>)], options: &ReadOptions<'_>) -> Result<Sequences> {
    let label = match options.labels {
        LabelKind::Ignore => header.label,
        _ => Some(header.label_column(rows)?),
    };
    let mut reader = LongReader {
        header,
        label,
        read_labels: options.labels != LabelKind::Ignore,
        regression: match options.labels {
            LabelKind::Targets => true,
            LabelKind::Any => label.is_some_and(|l| header.names[l].eq_ignore_ascii_case("target")),
            _ => false,
        },
        group_ids: options.columns.group_ids,
        out: Sequences {
            channels: header.features.len(),
            names: header.features.iter().map(|&c| header.names[c].clone()).collect(),
            unused: header.unused.clone(),
            ..Sequences::default()
        },
        keys: Vec::new(),
        seen: HashMap::new(),
        current: None,
        last_time: Vec::new(),
    };
    for (line, row) in rows {
        if row.len() != header.names.len() {
            bail!("line {line}: {} cells, the header has {}", row.len(), header.names.len());
        }
        let seq = reader.sequence_of(*line, row)?;
        reader.check_label(*line, row, seq)?;
        reader.check_time(*line, row, seq)?;
        for &c in &header.features {
            let v = cell_value(&row[c], &|| format!("line {line}, column {:?}", header.names[c]))?;
            reader.out.series[seq].push(v);
        }
    }
    Ok(reader.out)
}

/// The long layout's reading state.
struct LongReader<'h> {
    header: &'h Header,
    /// The label column (also with labels ignored: it still ends a sequence without an id column).
    label: Option<usize>,
    read_labels: bool,
    regression: bool,
    group_ids: bool,
    out: Sequences,
    /// Each sequence's key (its id, or its label without an id column).
    keys: Vec<String>,
    seen: HashMap<String, usize>,
    current: Option<usize>,
    /// Each sequence's last time.
    last_time: Vec<f32>,
}

impl LongReader<'_> {
    /// The sequence row `row` belongs to (a new one, or one already read).
    fn sequence_of(&mut self, line: u64, row: &[String]) -> Result<usize> {
        let key = key_of(self.header, row, self.label);
        if let Some(s) = self.current.filter(|&s| self.keys[s] == key) {
            return Ok(s);
        }
        let seq = match self.seen.get(&key).filter(|_| self.header.id.is_some()) {
            Some(_) if !self.group_ids => {
                bail!("line {line}: sequence {key:?} comes back after other rows; a sequence's rows must be consecutive (or pass --group-ids to gather them)")
            }
            Some(&s) => s,
            None => self.new_sequence(line, row, key)?,
        };
        self.current = Some(seq);
        Ok(seq)
    }

    fn new_sequence(&mut self, line: u64, row: &[String], key: String) -> Result<usize> {
        let (h, s) = (self.header, self.out.series.len());
        self.out.series.push(Vec::new());
        self.out.ids.push(if h.id.is_some() { key.clone() } else { format!("line {line}") });
        self.last_time.push(f32::NEG_INFINITY);
        if let Some(l) = self.label.filter(|_| self.read_labels) {
            if is_missing(&row[l]) {
                bail!("line {line}: no {} for sequence {:?}", h.names[l], self.out.ids[s]);
            }
            if self.regression {
                self.out.targets.push(cell_value(&row[l], &|| format!("line {line}, column {:?}", h.names[l]))?);
            } else {
                let c = super::sequences::class_of(&row[l], &mut self.out);
                self.out.labels.push(c);
            }
        }
        self.seen.insert(key.clone(), s);
        self.keys.push(key);
        Ok(s)
    }

    /// Every row of a sequence with an id repeats its label.
    fn check_label(&self, line: u64, row: &[String], seq: usize) -> Result<()> {
        let (Some(l), Some(id)) = (self.label.filter(|_| self.read_labels), self.header.id) else { return Ok(()) };
        let out = &self.out;
        let (first, same) = if self.regression {
            (out.targets[seq].to_string(), row[l].parse::<f32>().ok() == Some(out.targets[seq]))
        } else {
            let first = &out.classes[out.labels[seq] as usize];
            (first.clone(), &row[l] == first)
        };
        if !same {
            bail!("line {line}: sequence {:?} changes its {} from {first:?} to {:?}", row[id], self.header.names[l], row[l]);
        }
        Ok(())
    }

    /// Time does not go back within a sequence.
    fn check_time(&mut self, line: u64, row: &[String], seq: usize) -> Result<()> {
        let Some(t) = self.header.time else { return Ok(()) };
        let name = &self.header.names[t];
        let now = cell_value(&row[t], &|| format!("line {line}, column {name:?}"))?;
        if now < self.last_time[seq] {
            bail!("line {line}: {name} goes back ({now} after {}); sort each sequence's rows by time", self.last_time[seq]);
        }
        self.last_time[seq] = now;
        Ok(())
    }
}

/// The UCR CSV layout: one univariate sequence per row, its label first
/// (left out when labels are ignored).
fn parse_ucr(rows: &[(u64, Vec<String>)], options: &ReadOptions<'_>) -> Result<Sequences> {
    let mut out = Sequences { channels: 1, ..Sequences::default() };
    for (line, row) in rows {
        let (label, cells) = row.split_first().context("an empty row")?;
        let values = cells
            .iter()
            .enumerate()
            .map(|(k, v)| cell_value(v, &|| format!("line {line}, value {}", k + 1)))
            .collect::<Result<Vec<f32>>>()?;
        if values.is_empty() {
            bail!("line {line}: no values after the label (a CSV file without a header holds one sequence per row, its label first)");
        }
        match options.labels {
            LabelKind::Ignore => {}
            LabelKind::Targets => out.targets.push(cell_value(label, &|| format!("line {line}, the target"))?),
            LabelKind::Any | LabelKind::Classes => {
                let c = super::sequences::class_of(label, &mut out);
                out.labels.push(c);
            }
        }
        out.ids.push(format!("line {line}"));
        out.series.push(values);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, labels: LabelKind, columns: &Columns, features: Option<&[String]>) -> Result<Sequences> {
        parse_csv(text, &ReadOptions { labels, columns, features })
    }

    fn err(text: &str, columns: &Columns) -> String {
        format!("{:#}", read(text, LabelKind::Classes, columns, None).unwrap_err())
    }

    const LONG: &str = "id,ax,ay,label\na,1,2,walk\na,3,4,walk\nb,5,6,run\n";

    #[test]
    fn long_csv_reads_features_by_name_in_any_column_order() {
        let s = read(LONG, LabelKind::Any, &Columns::default(), None).unwrap();
        assert_eq!(
            (s.channels, s.names.clone(), s.labels.clone(), s.ids.clone()),
            (2, vec!["ax".into(), "ay".into()], vec![0, 1], vec!["a".into(), "b".into()])
        );
        assert_eq!(s.series[0], vec![1.0, 2.0, 3.0, 4.0]);
        // The same data with the columns reordered and one more: read by the model's names, the same.
        let reordered = "label,gz,ay,id,ax\nwalk,9,2,a,1\nwalk,9,4,a,3\nrun,9,6,b,5\n";
        let names = vec!["ax".to_string(), "ay".to_string()];
        let r = read(reordered, LabelKind::Classes, &Columns::default(), Some(&names)).unwrap();
        assert_eq!((r.series.clone(), r.unused.clone()), (s.series.clone(), vec!["gz".to_string()]));
        // A missing one is named.
        let e = format!("{:#}", read("id,ax,label\na,1,walk\n", LabelKind::Classes, &Columns::default(), Some(&names)).unwrap_err());
        assert!(e.contains("no column \"ay\"") && e.contains("ax, ay"), "{e}");
    }

    #[test]
    fn quoted_cells_missing_values_and_a_byte_order_mark_read() {
        let s = read(
            "\u{feff}\"id\",\"x\",\"label\"\n\"a\",\"1.5\",\"walk, slowly\"\na,,walk, slowly\na,?,\"walk, slowly\"\n",
            LabelKind::Classes,
            &Columns::default(),
            None,
        );
        // An unquoted comma splits the cell: that row is refused, naming its line.
        assert!(format!("{:#}", s.unwrap_err()).contains("line 3: 4 cells"));
        let s = read(
            "id,x,label\n\"a\",\"1.5\",\"walk, slowly\"\na,,\"walk, slowly\"\na,NA,\"walk, slowly\"\n",
            LabelKind::Classes,
            &Columns::default(),
            None,
        )
        .unwrap();
        assert_eq!((s.classes.clone(), s.series[0][0], s.missing()), (vec!["walk, slowly".to_string()], 1.5, 2));
        assert!(err("id,x,label\na,inf,walk\n", &Columns::default()).contains("line 2, column \"x\": \"inf\" is infinite"));
        assert!(err("id,x,label\na,abc,walk\n", &Columns::default()).contains("not a number"));
    }

    #[test]
    fn a_sequence_id_that_comes_back_is_refused_or_gathered() {
        let text = "id,x,label\na,1,walk\nb,2,run\na,3,walk\n";
        assert!(err(text, &Columns::default()).contains("line 4: sequence \"a\" comes back"));
        let grouped = Columns { group_ids: true, ..Columns::default() };
        let s = read(text, LabelKind::Classes, &grouped, None).unwrap();
        assert_eq!((s.series.clone(), s.ids.clone()), (vec![vec![1.0, 3.0], vec![2.0]], vec!["a".to_string(), "b".to_string()]));
        assert!(err("id,x,label\na,1,walk\na,2,run\n", &Columns::default()).contains("changes its label from \"walk\" to \"run\""));
    }

    #[test]
    fn chosen_columns_time_and_files_without_ids() {
        // A natural recording: timestamp, sensors, an activity column; no id.
        let rec = "timestamp,ax,ay,activity\n0.00,1,2,walk\n0.02,3,4,walk\n0.04,5,6,run\n0.06,7,8,walk\n";
        let e = err(rec, &Columns::default());
        assert!(e.contains("no label column") && e.contains("--label-column activity"), "{e}");
        let cols = Columns { label: Some("activity".into()), ..Columns::default() };
        let s = read(rec, LabelKind::Classes, &cols, None).unwrap();
        assert_eq!(s.names, vec!["ax".to_string(), "ay".to_string()], "the time column is not a feature");
        assert_eq!(
            (s.len(), s.labels.clone(), s.ids.clone()),
            (3, vec![0, 1, 0], vec!["line 2".into(), "line 4".into(), "line 5".into()]),
            "runs of one label"
        );
        let back = rec.replace("0.02", "-0.01");
        assert!(err(&back, &cols).contains("line 3: timestamp goes back"));
        // Unlabelled, without an id: one sequence, for prediction.
        let p = read("ax,ay\n1,2\n3,4\n", LabelKind::Ignore, &Columns::default(), None).unwrap();
        assert_eq!((p.len(), p.series[0].clone(), p.is_labelled()), (1, vec![1.0, 2.0, 3.0, 4.0], false));
        // Named columns that do not exist.
        assert!(err(rec, &Columns { id: Some("session".into()), ..cols.clone() }).contains("--id-column \"session\": no such column"));
    }

    #[test]
    fn every_default_column_name_is_found() {
        for id in ID_NAMES {
            for label in LABEL_NAMES {
                for time in TIME_NAMES {
                    let text = format!("{time},{},x,{}\n0,a,1,u\n1,a,2,u\n0,b,3,v\n", id.to_uppercase(), label);
                    let s = read(&text, LabelKind::Classes, &Columns::default(), None).unwrap();
                    assert_eq!(
                        (s.names.clone(), s.ids.clone()),
                        (vec!["x".to_string()], vec!["a".to_string(), "b".to_string()]),
                        "{id} {label} {time}"
                    );
                }
            }
        }
    }

    #[test]
    fn prediction_ignores_labels_and_headerless_files_are_the_ucr_layout() {
        let p = read(&LONG.replace("run", "swim"), LabelKind::Ignore, &Columns::default(), None).unwrap();
        assert!(!p.is_labelled());
        assert_eq!(p.series, read(LONG, LabelKind::Classes, &Columns::default(), None).unwrap().series);
        let ucr = read("1,0.1,0.2,0.3\n2,0.4,?\n", LabelKind::Classes, &Columns::default(), None).unwrap();
        assert_eq!(
            (ucr.channels, ucr.classes.clone(), ucr.series[0].clone()),
            (1, vec!["1".to_string(), "2".to_string()], vec![0.1, 0.2, 0.3])
        );
        assert!(ucr.series[1][1].is_nan());
    }
}
