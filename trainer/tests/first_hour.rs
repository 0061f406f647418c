//! A newcomer's first hour with the command line: a closed stdout loses no
//! run, the best checkpoint is kept and used, validation is honest, CSV is
//! read by name, `predict` takes unlabelled data and fills missing values as
//! the device does, advice leads somewhere, the console fits the task, and
//! errors say where.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgegru-first-hour-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn edgegru(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_edgegru")).args(args).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `edgegru` and expects success; returns stdout.
fn ok(args: &[&str]) -> String {
    let (code, out, err) = edgegru(args);
    assert_eq!(code, 0, "edgegru {}: {err}", args.join(" "));
    out
}

/// Runs `edgegru` and expects a one-line error (exit code 1); returns it.
fn refused(args: &[&str]) -> String {
    let (code, _, err) = edgegru(args);
    assert_eq!(code, 1, "edgegru {} should fail: {err}", args.join(" "));
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("corpus.txt");
    std::fs::write(&p, "the quick brown fox jumps over the lazy dog.\n".repeat(200)).unwrap();
    p
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn motion() -> PathBuf {
    fixtures().join("motion.csv")
}

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The small network flags of a classifier run on the motion data.
const SMALL: [&str; 10] = ["--hidden", "16", "--dense", "0", "--batch", "4", "--threads", "1", "--seed", "3"];

/// The small network flags of a text run.
const TEXT_NET: [&str; 12] = ["--emb", "8", "--hidden", "16", "--dense", "16", "--seq-len", "16", "--batch", "4", "--threads", "1"];

/// `edgegru train` on a text corpus with the small network, and `extra`; returns stdout.
fn text_run(corpus: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["train", "--corpus", s(corpus), "--out", s(out)];
    args.extend(TEXT_NET);
    args.extend(extra);
    ok(&args)
}

/// Trains a classifier on motion.csv (named columns, missing values filled).
fn motion_run(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let run = dir.join(name);
    let m = motion();
    let mut args =
        vec!["train", "--task", "classify", "--data", s(&m), "--label-column", "activity", "--fill", "previous", "--out", s(&run)];
    args.extend(SMALL);
    args.extend(extra);
    ok(&args);
    run
}

/// Runs `args` with stdout a pipe read for one line and then closed (`| head -1`).
fn with_head_1(args: &[&str]) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgegru")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe is closed, as `head` closes it.
    let out = child.wait_with_output().unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Issue item 1: `| head -1` on train, prune and pipeline: the run goes on to
/// its end and writes its files; stderr says the console went quiet.
#[test]
fn a_closed_stdout_never_stops_a_run() {
    let dir = temp_dir("pipe");
    let c = corpus(&dir);
    let run = dir.join("run");
    let mut args = vec!["train", "--corpus", s(&c), "--out", s(&run), "--steps", "300", "--log-every", "10"];
    args.extend(TEXT_NET);
    let (status, err) = with_head_1(&args);
    assert!(status.success(), "{err}");
    assert!(err.contains("stdout was closed") && err.contains("done: 300 steps"), "{err}");
    assert!(run.join("checkpoint.egck").exists() && run.join("best/checkpoint.egck").exists());
    assert_eq!(edgegru_trainer::checkpoint::Checkpoint::load(&run).unwrap().optimizer.step, 300, "the run reached its end");

    let pruned = dir.join("pruned");
    let (status, err) = with_head_1(&["prune", "--checkpoint", s(&run), "--out", s(&pruned), "--steps", "40", "--prune-to", "0.5"]);
    assert!(status.success() && err.contains("stdout was closed"), "{err}");
    assert!(pruned.join("checkpoint.egck").exists());

    let pipe = dir.join("pipeline");
    let (status, err) = with_head_1(&["pipeline", "--corpus", s(&c), "--out", s(&pipe), "--config", "t", "--steps", "40"]);
    assert!(status.success() && err.contains("stdout was closed"), "{err}");
    assert!(pipe.join("model.egru").exists() && pipe.join("summary.md").exists());
    let summary = std::fs::read_to_string(pipe.join("summary.md")).unwrap();
    assert!(summary.contains("shipped from") && summary.contains("best"), "the summary names the checkpoint it shipped");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue item 2: the best checkpoint is kept, export and eval use it (--last
/// the other), --patience stops a run, a stall warns once.
#[test]
fn the_best_checkpoint_is_kept_and_used() {
    let dir = temp_dir("best");
    let c = corpus(&dir);
    let run = dir.join("run");
    let out = ok(&[
        "train",
        "--corpus",
        s(&c),
        "--out",
        s(&run),
        "--emb",
        "8",
        "--hidden",
        "64",
        "--dense",
        "64",
        "--seq-len",
        "16",
        "--batch",
        "4",
        "--steps",
        "3000",
        "--log-every",
        "100",
        "--threads",
        "1",
        "--lr",
        "0.02",
        "--patience",
        "3",
    ]);
    assert!(out.contains("stopping early") && out.contains("stopped early:"), "{out}");
    let best_step: u64 = out.split("at step ").last().unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap();
    let last_step: u64 = out.split("stopped early: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(best_step < last_step, "the best ({best_step}) is before the end ({last_step})");
    let best = ok(&["export", "--checkpoint", s(&run), "--out", s(&dir.join("best.egru"))]);
    assert!(best.contains("best/checkpoint.egck") && best.contains(&format!("(step {best_step})")), "{best}");
    let last = ok(&["export", "--checkpoint", s(&run), "--last", "--out", s(&dir.join("last.egru"))]);
    assert!(last.contains(&format!("(step {last_step})")), "{last}");
    let loss = |args: &[&str]| -> f64 {
        let json = ok(args);
        let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
        v["loss"].as_f64().unwrap()
    };
    let (b, l) = (
        loss(&["eval", "--checkpoint", s(&run), "--corpus", s(&c), "--json"]),
        loss(&["eval", "--checkpoint", s(&run), "--last", "--corpus", s(&c), "--json"]),
    );
    assert!(b <= l + 1e-3, "eval reads the best checkpoint by default: {b} vs the last's {l}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue items 3 and 7: a sorted classifier data set gets a stratified
/// validation split, stated with its sizes; one console line per
/// --log-every, classifier metrics without perplexity or tokens, no line
/// twice; a text run says its validation is the corpus' tail.
#[test]
fn validation_is_stated_and_the_console_fits_the_task() {
    let dir = temp_dir("console");
    let m = motion();
    let run = dir.join("run");
    let mut args = vec!["train", "--task", "classify", "--data", s(&m), "--label-column", "activity", "--fill", "mean", "--out", s(&run)];
    args.extend(SMALL);
    args.extend(["--steps", "200", "--log-every", "50"]);
    let out = ok(&args);
    assert!(out.contains("33 training sequences, 3 validation sequences (a stratified 10% of"), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), 4, "one line per 50 steps: {lines:?}");
    let unique: std::collections::BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(unique.len(), lines.len(), "no line twice");
    assert!(lines.iter().all(|l| !l.contains("ppl") && !l.contains("tok/s") && l.contains("seq/s")), "{lines:?}");
    // The stratified split: the sorted file's three classes are each in validation.
    use edgegru_trainer::data::{read_sequences, Columns, LabelKind, ReadOptions};
    let columns = Columns { label: Some("activity".into()), ..Columns::default() };
    let all = read_sequences(&m, &ReadOptions { labels: LabelKind::Classes, columns: &columns, features: None }).unwrap();
    let (_, val) = all.split(0.1, 3);
    let mut classes = val.labels.clone();
    classes.sort_unstable();
    assert_eq!(classes, vec![0, 1, 2], "one validation sequence of each class");
    // A text corpus: the tail, said so.
    let c = corpus(&dir);
    let text = text_run(&c, &dir.join("t"), &["--steps", "20"]);
    assert!(text.contains("the last 10% of the corpus"), "{text}");
    // Under --minutes the ETA is a time, not --:--:--.
    let timed = text_run(&c, &dir.join("m"), &["--minutes", "0.02", "--log-every", "20"]);
    let eta: Vec<&str> = timed.lines().filter(|l| l.contains("ETA")).collect();
    assert!(!eta.is_empty() && eta.iter().all(|l| !l.contains("--:--:--")), "{eta:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue item 4: a model trained on named CSV columns reads them by name:
/// reordered columns (and an extra one) give the same results, a missing
/// column is named; quoted numbers read; a sequence id that comes back is
/// refused (or gathered with --group-ids).
#[test]
fn csv_columns_are_read_by_name() {
    let dir = temp_dir("csv");
    let run = motion_run(&dir, "run", &["--epochs", "20"]);
    let text = std::fs::read_to_string(motion()).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    // timestamp,session,ax,ay,az,gx,activity -> activity,gx,extra,session,az,ay,timestamp,ax (numbers quoted)
    let order = [6, 5, 99, 1, 4, 3, 0, 2];
    let reordered: String = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let cells: Vec<String> = order
                .iter()
                .map(|&c| match (c, i) {
                    (99, 0) => "extra".to_string(),
                    (99, _) => "7".to_string(),
                    (c, i) if i > 0 && (2..=5).contains(&c) && !r[c].is_empty() => format!("\"{}\"", r[c]),
                    (c, _) => r[c].to_string(),
                })
                .collect();
            cells.join(",") + "\n"
        })
        .collect();
    let moved = dir.join("reordered.csv");
    std::fs::write(&moved, reordered).unwrap();
    let model = dir.join("m.egru");
    ok(&["export", "--checkpoint", s(&run), "--weights", "int8", "--out", s(&model)]);
    let eval = |data: &Path| edgegru(&["eval", "--model", s(&model), "--data", s(data), "--label-column", "activity", "--json"]);
    let (code, original, _) = eval(&motion());
    assert_eq!(code, 0);
    let (code, again, note) = eval(&moved);
    assert_eq!(code, 0, "{note}");
    assert_eq!(again, original, "reordered columns: the same results");
    assert!(note.contains("left out: extra"), "{note}");
    let exact = |data: &Path| ok(&["predict", "--model", s(&model), "--data", s(data), "--exact"]);
    assert_eq!(exact(&moved), exact(&motion()), "the same bits, step by step");
    // A column the model reads is missing: named.
    let lacking = dir.join("lacking.csv");
    std::fs::write(&lacking, text.replace(",gx,", ",gyro,")).unwrap();
    let err = refused(&["predict", "--model", s(&model), "--data", s(&lacking)]);
    assert!(err.contains("no column \"gx\"") && err.contains("ax, ay, az, gx"), "{err}");
    // A sequence id that comes back after others.
    let back = dir.join("back.csv");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&back, [lines[0], lines[1], lines[30], lines[2]].join("\n")).unwrap();
    let err = refused(&["predict", "--model", s(&model), "--data", s(&back)]);
    assert!(err.contains("comes back") && err.contains("--group-ids"), "{err}");
    let grouped = ok(&["predict", "--model", s(&model), "--data", s(&back), "--group-ids", "--json"]);
    assert_eq!(grouped.lines().count(), 2, "two sessions: {grouped}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue item 5: predict takes unlabelled `.ts` and CSV and unseen labels;
/// missing values are filled as the model says (stored in the file, shown
/// by inspect), and refused with advice by a model that refuses them.
#[test]
fn predict_reads_unlabelled_data_and_fills_missing_values() {
    let dir = temp_dir("predict");
    let run = motion_run(&dir, "run", &["--epochs", "10"]);
    let model = dir.join("m.egru");
    ok(&["export", "--checkpoint", s(&run), "--out", s(&model)]);
    let info = ok(&["inspect", s(&model)]);
    assert!(info.contains("features    ax, ay, az, gx; a missing value (NaN) is filled with the feature's previous value"), "{info}");
    // Without the label column, and with labels the model never saw.
    let text = std::fs::read_to_string(motion()).unwrap();
    let unlabelled: String = text.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect();
    let bare = dir.join("bare.csv");
    std::fs::write(&bare, unlabelled).unwrap();
    let labelled = ok(&["predict", "--model", s(&model), "--data", s(&motion()), "--json"]);
    assert_eq!(ok(&["predict", "--model", s(&model), "--data", s(&bare), "--json"]), labelled);
    let unseen = dir.join("unseen.csv");
    std::fs::write(&unseen, text.replace("run", "swim")).unwrap();
    assert_eq!(ok(&["predict", "--model", s(&model), "--data", s(&unseen), "--json"]), labelled);
    // Unlabelled and unseen-label .ts files, with missing values.
    let ts = "@problemName Toy\n@dimensions 4\n@classLabel false\n@data\n1,?,3:0,1,2:9.8,9.8,NaN:0,4,8\n0.5,0.2:1,1:9.7,9.9:?,1\n";
    let unl = dir.join("unlabelled.ts");
    std::fs::write(&unl, ts).unwrap();
    let out = ok(&["predict", "--model", s(&model), "--data", s(&unl)]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let odd = dir.join("odd.ts");
    std::fs::write(
        &odd,
        ts.replace("@classLabel false", "@classLabel true a b").replace("0,4,8\n", "0,4,8:zzz\n").replace(":?,1\n", ":?,1:a\n"),
    )
    .unwrap();
    assert_eq!(ok(&["predict", "--model", s(&model), "--data", s(&odd)]), out, "labels, unseen ones too, are left out");
    // eval needs labels, and names the ones it does not know.
    let err = refused(&["eval", "--model", s(&model), "--data", s(&unseen), "--label-column", "activity"]);
    assert!(err.contains("\"swim\" is not one of the model's"), "{err}");
    // A model that refuses missing values says how to fill them; the advice works.
    let basic = models().join("basicmotions.egru");
    let gappy = dir.join("gappy.ts");
    std::fs::write(&gappy, "@dimensions 6\n@classLabel false\n@data\n1,2:1,2:1,2:1,2:1,?:1,2\n").unwrap();
    let err = refused(&["predict", "--model", s(&basic), "--data", s(&gappy)]);
    assert!(err.contains("1 missing values") && err.contains("--fill"), "{err}");
    // A model without feature names reads CSV columns by position, and says so.
    let positional = dir.join("positional.csv");
    std::fs::write(&positional, "session,a,b,c,d,e,f\ns1,1,2,3,4,5,6\ns1,2,3,4,5,6,7\n").unwrap();
    let (code, out, note) = edgegru(&["predict", "--model", s(&basic), "--data", s(&positional), "--json"]);
    assert_eq!(code, 0, "{note}");
    assert!(note.contains("the model names no features: the columns a, b, c, d, e, f are read by position"), "{note}");
    assert!(out.starts_with("{\"sequence\":0,\"id\":\"s1\","), "the sequence's id: {out}");
    let imported = dir.join("imported.egru");
    let onnx = models().join("basicmotions.onnx");
    let import = ["import", "--onnx", s(&onnx), "--classes", "Badminton,Running,Standing,Walking", "--out", s(&imported)];
    ok(&[&import[..], &["--fill", "mean", "--feature-names", "ax,ay,az,gx,gy,gz"]].concat());
    assert_eq!(ok(&["predict", "--model", s(&imported), "--data", s(&gappy)]).lines().count(), 1, "import --fill: the advice works");
    assert!(ok(&["inspect", s(&imported)]).contains("ax, ay, az, gx, gy, gz; a missing value (NaN) is filled with the training mean"));
    let err = refused(&["import", "--onnx", s(&onnx), "--vocab", "vocab.json", "--out", s(&dir.join("t.egru")), "--fill", "zero"]);
    assert!(err.contains("for feature models"), "{err}");
    let x = dir.join("x");
    let train_err =
        refused(&["train", "--task", "classify", "--data", s(&motion()), "--label-column", "activity", "--out", s(&x), "--steps", "5"]);
    assert!(train_err.contains("missing values, the first in sequence \"i00\"") && train_err.contains("--fill"), "{train_err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue item 6: advice leads somewhere. Following each suggestion from a
/// bare `train --data motion.csv` ends in a trained model; `generate
/// --backend tract` runs a shipped `.egru`; `export --model NAME --format
/// onnx` works; `--skip-unknown` does what the error says.
#[test]
fn every_suggested_command_works() {
    let dir = temp_dir("advice");
    let m = motion();
    let out = dir.join("run");
    let mut args: Vec<String> = ["train", "--data", s(&m), "--out", s(&out), "--steps", "10"].iter().map(|a| a.to_string()).collect();
    args.extend(SMALL.iter().map(|a| a.to_string()));
    let mut followed = Vec::new();
    for _ in 0..5 {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = edgegru(&refs);
        if code == 0 {
            break;
        }
        // Each error names the flag to add: "add --task classify", "pass --label-column activity", "pass --fill zero".
        let advice = ["add --task ", "pass --label-column ", "pass --fill "]
            .iter()
            .find_map(|p| err.find(p).map(|i| (p, &err[i + p.len()..])))
            .unwrap_or_else(|| panic!("no advice in: {err}"));
        let flag = advice.0.split(' ').nth(1).unwrap().to_string();
        let value = advice.1.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ')').next().unwrap().to_string();
        followed.push(format!("{flag} {value}"));
        args.extend([flag, value]);
    }
    assert_eq!(followed, ["--task classify", "--label-column activity", "--fill zero"]);
    assert!(out.join("best/checkpoint.egck").exists(), "the advice led to a trained model");
    // A shipped .egru on tract: its float graph, the native f32 text.
    let tiny = models().join("tiny.egru");
    let gen =
        |backend: &str| ok(&["generate", "--model", s(&tiny), "--backend", backend, "--prompt", "The ", "--greedy", "--max-tokens", "20"]);
    assert_eq!(gen("tract").len(), gen("native").len());
    let onnx = dir.join("deep/er/tiny.onnx");
    ok(&["export", "--model", "tiny", "--format", "onnx", "--out", s(&onnx)]);
    assert!(onnx.exists(), "export --out creates its folders");
    ok(&["eval", "--model", s(&onnx), "--backend", "tract", "--corpus", s(&corpus(&dir))]);
    // An unknown character: named with its place, and --skip-unknown leaves it out.
    let odd = dir.join("odd.txt");
    std::fs::write(&odd, "the cat\nsat on the mat ☃ today\n".repeat(30)).unwrap();
    let err = refused(&["eval", "--model", s(&tiny), "--corpus", s(&odd)]);
    assert!(err.contains("--skip-unknown"), "{err}");
    ok(&["eval", "--model", s(&tiny), "--corpus", s(&odd), "--skip-unknown"]);
    let err = refused(&["next", "--model", s(&tiny), "--prompt", "a ☃"]);
    assert!(err.contains("--skip-unknown"), "{err}");
    ok(&["next", "--model", s(&tiny), "--prompt", "a ☃", "--skip-unknown"]);
    // An empty prompt generates from nothing.
    let free = ok(&["generate", "--model", s(&tiny), "--prompt", "", "--max-tokens", "10", "--seed", "1"]);
    assert!(!free.trim().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue item 8: errors with context.
#[test]
fn errors_say_where_and_what() {
    let dir = temp_dir("errors");
    let c = corpus(&dir);
    let out = dir.join("run");
    // Negative numbers: a range error, not "unexpected argument".
    for (flag, value) in [("--hidden", "-5"), ("--steps", "-1"), ("--batch", "-2")] {
        let err = refused(&["train", "--corpus", s(&c), "--out", s(&out), flag, value]);
        assert!(err.contains(&format!("invalid value '{value}' for '{flag}")) && !err.contains("unexpected argument"), "{err}");
    }
    // A validation file with other features: the counts, not a class mismatch.
    let m = motion();
    let narrow = dir.join("narrow.csv");
    let text: String = std::fs::read_to_string(&m)
        .unwrap()
        .lines()
        .map(|l| l.split(',').filter(|_| true).collect::<Vec<_>>())
        .map(|c| [c[0], c[1], c[2], c[6]].join(",") + "\n")
        .collect();
    std::fs::write(&narrow, text).unwrap();
    let mut args = vec![
        "train",
        "--task",
        "classify",
        "--data",
        s(&m),
        "--val-data",
        s(&narrow),
        "--label-column",
        "activity",
        "--fill",
        "zero",
        "--out",
        s(&out),
        "--steps",
        "5",
    ];
    args.extend(SMALL);
    let err = refused(&args);
    assert!(err.contains("no column \"ay\""), "{err}");
    let unnamed_train = dir.join("a.ts");
    let unnamed_val = dir.join("b.ts");
    std::fs::write(&unnamed_train, "@dimensions 2\n@classLabel true x y\n@data\n1,2:3,4:x\n1,2:3,4:y\n1,2:3,4:x\n1,2:3,4:y\n").unwrap();
    std::fs::write(&unnamed_val, "@dimensions 1\n@classLabel true x y\n@data\n1,2:x\n").unwrap();
    let err = refused(&[
        "train",
        "--task",
        "classify",
        "--data",
        s(&unnamed_train),
        "--val-data",
        s(&unnamed_val),
        "--out",
        s(&out),
        "--batch",
        "2",
        "--steps",
        "5",
    ]);
    assert!(err.contains("1 features per step, the training data") && err.contains("has 2"), "{err}");
    // --data without --task.
    let err = refused(&["train", "--data", s(&unnamed_train), "--out", s(&out)]);
    assert!(err.contains("--task classify"), "{err}");
    // A resume past its limit says so.
    let run = dir.join("r");
    text_run(&c, &run, &["--steps", "10"]);
    let err = refused(&["train", "--resume", s(&run)]);
    assert!(err.contains("10") && err.contains("--steps"), "{err}");
    // An unknown character in a folder corpus: the file, line and column.
    let folder = dir.join("folder");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("a.txt"), "hello world\n".repeat(50)).unwrap();
    std::fs::write(folder.join("b.txt"), "good\nbye ☃\n").unwrap();
    let err = refused(&["eval", "--model", s(&models().join("tiny.egru")), "--corpus", s(&folder)]);
    assert!(err.contains("b.txt:2:5"), "{err}");
    // A CSV cell that is not a number: the line and column.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "id,x,label\na,1,u\na,one,u\n").unwrap();
    let err = refused(&["train", "--task", "classify", "--data", s(&bad), "--out", s(&out), "--steps", "5"]);
    assert!(err.contains("bad.csv") && err.contains("line 3, column \"x\": \"one\" is not a number"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
