//! The ONNX backends against the native runtime, on the exported step graph:
//! tract always; ONNX Runtime when its library is found (the test command
//! installs the onnxruntime wheel and sets EDGEGRU_REQUIRE_ORT=1, which makes
//! a missing library a failure instead of a printed notice). And ONNX import:
//! models exported by PyTorch and Keras (tf2onnx), made by
//! fixtures/make_import_fixtures.py, against ONNX Runtime's logits on the
//! original files.

use edgegru_onnx::{self as onnx, OnnxError, OnnxSession, OnnxWeights, OrtLibrary};
use edgegru_runtime::writer::{ExportOptions, FloatModel};
use edgegru_runtime::{sampling, Model, Session, StepSession};
use edgegru_trainer::import::vocab::{self, ListRules};
use edgegru_trainer::import::ImportOptions;

fn model() -> FloatModel {
    edgegru_tests::random_char("abcdefghijklmnopqrstuvwxyz .,'\n", 16, 64, 48, 21)
}

fn bytes(m: &FloatModel, opts: &ExportOptions) -> Vec<u8> {
    m.to_checked_bytes(opts).unwrap()
}

/// Greedy run of `steps` tokens from token 1 on the native session: (tokens, logits per step).
fn native_run(file: &[u8], steps: usize) -> (Vec<u32>, Vec<Vec<f32>>) {
    let m = Model::from_bytes(file).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut s = Session::new(&m, &mut arena).unwrap();
    let (mut tok, mut tokens, mut all) = (1u32, Vec::new(), Vec::new());
    for _ in 0..steps {
        let l = s.step(tok).unwrap().to_vec();
        tok = sampling::argmax(&l);
        tokens.push(tok);
        all.push(l);
    }
    (tokens, all)
}

/// The same tokens fed to an ONNX session: (its greedy picks, max |logit difference|).
fn onnx_run(s: &mut OnnxSession, native: &(Vec<u32>, Vec<Vec<f32>>)) -> (Vec<u32>, f32) {
    let (mut tok, mut picks, mut worst) = (1u32, Vec::new(), 0f32);
    for (want_next, want_logits) in native.0.iter().zip(&native.1) {
        let l = s.step(tok).unwrap();
        worst = l.iter().zip(want_logits).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
        picks.push(sampling::argmax(l));
        tok = *want_next;
    }
    (picks, worst)
}

fn ort_library() -> Option<OrtLibrary> {
    match OrtLibrary::find() {
        Ok(lib) => Some(lib),
        Err(e) if std::env::var_os("EDGEGRU_REQUIRE_ORT").is_some() => panic!("EDGEGRU_REQUIRE_ORT is set but {e}"),
        Err(e) => {
            println!("ONNX Runtime parity NOT run: {e}");
            None
        }
    }
}

#[test]
fn float_graph_matches_native_f32_on_tract_and_onnx_runtime() {
    let fm = model();
    let native = native_run(&bytes(&fm, &ExportOptions::default()), 200);
    let graph = onnx::to_bytes(&fm, OnnxWeights::Float).unwrap();
    let mut sessions = vec![OnnxSession::tract(&graph).unwrap()];
    if let Some(lib) = ort_library() {
        sessions.push(OnnxSession::ort(&graph, &lib).unwrap());
    }
    for s in &mut sessions {
        let (picks, worst) = onnx_run(s, &native);
        println!("{}: max |logit difference| against native f32 over 200 steps: {worst:.2e}", s.backend());
        assert!(worst < 1e-4, "{}: logits differ by {worst}", s.backend());
        assert_eq!(picks, native.0, "{}: greedy tokens differ from native f32", s.backend());
    }
}

#[test]
fn qdq_graph_stays_close_to_native_int8() {
    let fm = model();
    let native = native_run(&bytes(&fm, &ExportOptions::int8(false)), 200);
    let graph = onnx::to_bytes(&fm, OnnxWeights::Int8Qdq).unwrap();
    let mut sessions = vec![OnnxSession::tract(&graph).unwrap()];
    if let Some(lib) = ort_library() {
        sessions.push(OnnxSession::ort(&graph, &lib).unwrap());
    }
    for s in &mut sessions {
        let (picks, worst) = onnx_run(s, &native);
        let agree = picks.iter().zip(&native.0).filter(|(a, b)| a == b).count();
        println!("{} QDQ vs native int8: max |logit difference| {worst:.4}, greedy agreement {agree}/200", s.backend());
        // QDQ dequantizes the same int8 weights but keeps activations in f32; the
        // native path also rounds each product's input to int8 (about 0.4% of its range).
        assert!(worst < 0.1, "{}: logits differ by {worst}", s.backend());
        assert!(agree >= 190, "{}: greedy agreement {agree}/200", s.backend());
    }
}

#[test]
fn generate_gives_the_same_text_on_every_backend() {
    let fm = model();
    let egru = bytes(&fm, &ExportOptions::default());
    let m = Model::from_bytes(&egru).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut native = Session::new(&m, &mut arena).unwrap();
    let params = edgegru_runtime::SamplingParams { temperature: 0.8, top_k: 10, top_p: 0.95, allow_oov: false };
    let mut want = String::new();
    native
        .generate("the cat ", 100, &params, &mut edgegru_runtime::Rng::new(5), &mut [], |_, t| {
            want.push_str(t);
            true
        })
        .unwrap();
    let mut tract = OnnxSession::tract(&onnx::to_bytes(&fm, OnnxWeights::Float).unwrap()).unwrap();
    let mut got = String::new();
    tract
        .generate("the cat ", 100, &params, &mut edgegru_runtime::Rng::new(5), &mut [], &mut |_, t| {
            got.push_str(t);
            true
        })
        .unwrap();
    assert_eq!(got, want, "sampled text with the same seed");
}

#[test]
fn bad_files_and_a_missing_library_are_errors() {
    assert!(matches!(OnnxSession::tract(b"not onnx at all"), Err(OnnxError::Backend { backend: "tract", .. })));
    let graph = onnx::to_bytes(&model(), OnnxWeights::Float).unwrap();
    let err = OnnxSession::ort(&graph, &OrtLibrary::at("/nonexistent/libonnxruntime.so.1.32.0")).err().unwrap();
    assert!(matches!(err, OnnxError::LibraryMissing { .. }), "{err}");
    assert!(err.to_string().contains("pip install 'onnxruntime>=1.") && err.to_string().contains("or later"), "{err}");
    let mut s = OnnxSession::tract(&graph).unwrap();
    assert!(matches!(s.step(9999), Err(OnnxError::Runtime(edgegru_runtime::Error::TokenOutOfRange { .. }))));
}

/// `edgegru bench` times several models in one interleaved run and reports
/// each one's speed against the first.
#[test]
fn bench_compares_several_models_in_one_run() {
    let dir = std::env::temp_dir().join(format!("edgegru-test-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fm = model();
    let (dense, sparse) = (dir.join("dense.egru"), dir.join("sparse.egru"));
    std::fs::write(&dense, bytes(&fm, &ExportOptions::int8(false))).unwrap();
    std::fs::write(&sparse, bytes(&fm, &ExportOptions::int8(true))).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["bench", "--model"])
        .arg(&dense)
        .arg("--model")
        .arg(&sparse)
        .args(["--backends", "native,tract", "--steps", "50", "--rounds", "3", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<(String, String)> =
        rows.iter().map(|r| (r["model"].as_str().unwrap().to_string(), r["backend"].as_str().unwrap().to_string())).collect();
    let (d, s) = (dense.display().to_string(), sparse.display().to_string());
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(
        (names[0].0.as_str(), names[1].0.as_str(), names[2].0.as_str(), names[3].0.as_str()),
        (d.as_str(), d.as_str(), s.as_str(), s.as_str())
    );
    assert!(names[0].1.starts_with("native/") && names[1].1 == "tract", "{names:?}");
    assert_eq!(rows[0]["speedup_vs_first"].as_f64(), Some(1.0));
    let first = rows[0]["us_per_step"].as_f64().unwrap();
    for r in &rows {
        let us = r["us_per_step"].as_f64().unwrap();
        assert!(us > 0.0 && us.is_finite(), "{r}");
        // The fastest of three rounds is at most their median.
        let fastest = r["fastest_us_per_step"].as_f64().unwrap();
        assert!(fastest > 0.0 && fastest <= us, "{r}");
        assert!((r["speedup_vs_first"].as_f64().unwrap() - first / us).abs() < 1e-9, "{r}");
    }
    // The text table names the models when there are several.
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_edgegru"))
        .args(["bench", "--model"])
        .arg(&dense)
        .arg("--model")
        .arg(&sparse)
        .args(["--steps", "20", "--rounds", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("model") && text.contains(&s) && text.contains("fastest") && text.contains("vs first"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(name)
}

/// Imports fixture `name` (its .onnx and, for a token model, its
/// .vocab.json) as an f32 `.egru` file.
fn import_fixture(name: &str) -> anyhow::Result<Vec<u8>> {
    let vocab_file = fixture(&format!("{name}.vocab.json"));
    let vocab = match vocab_file.exists() {
        true => Some(vocab::read(&std::fs::read(vocab_file)?, &ListRules::default())?),
        false => None,
    };
    let model =
        edgegru_trainer::import::onnx::import(&std::fs::read(fixture(&format!("{name}.onnx")))?, vocab, &ImportOptions::default(), name)?;
    Ok(model.to_checked_bytes(&edgegru_trainer::export::options(edgegru_runtime::writer::WeightKind::F32, false, false))?)
}

#[test]
fn imported_pytorch_and_keras_models_give_onnx_runtimes_logits() {
    let mut checked = 0;
    for name in
        ["torch_batch_first", "torch_seq_first_no_bias", "torch_two_layers", "keras_reset_after", "keras_stacked", "keras_square_loop"]
    {
        let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.expect.json"))).unwrap()).unwrap();
        let file = import_fixture(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let m = Model::from_bytes(&file).unwrap();
        let mut arena = vec![0u8; m.arena_size()];
        let mut s = Session::new(&m, &mut arena).unwrap();
        // Keras ends in softmax: its file gives probabilities, compared as such.
        let probabilities = expect["output"] == "probabilities";
        let mut worst = 0f32;
        for (tok, row) in expect["tokens"].as_array().unwrap().iter().zip(expect["logits"].as_array().unwrap()) {
            let logits = s.step(tok.as_u64().unwrap() as u32).unwrap().to_vec();
            let ours = if probabilities {
                let max = logits.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                e.iter().map(|v| v / sum).collect()
            } else {
                logits
            };
            let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(ours.len(), want.len());
            worst = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
        }
        assert!(worst < 1e-4, "{name}: max difference from ONNX Runtime {worst}");
        println!("{name}: max |difference| from ONNX Runtime on the original file {worst:.2e}");
        checked += 1;
    }
    assert_eq!(checked, 6);
}

/// Sensor classifiers as PyTorch (`nn.GRU(num_layers=2)`, Linear, Tanh,
/// Linear, Softmax) and Keras through tf2onnx (GRU, Dense tanh, Dense
/// softmax) export them: streamed step by step, every step's class
/// probabilities are ONNX Runtime's on the original file.
#[test]
fn imported_feature_classifiers_give_onnx_runtimes_probabilities() {
    for (name, layers) in [("torch_features", 2), ("keras_features", 1)] {
        let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.expect.json"))).unwrap()).unwrap();
        let file = import_fixture(name).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let m = Model::from_bytes(&file).unwrap();
        assert_eq!(m.gru_widths().count(), layers, "{name}");
        assert!(matches!(m.input(), edgegru_runtime::InputKind::Features { count: 6 }), "{name}");
        assert_eq!(m.output_name(3), Some("3"), "{name}: classes default to 0..n-1");
        let mut arena = vec![0u8; m.arena_size()];
        let mut s = Session::new(&m, &mut arena).unwrap();
        let mut worst = 0f32;
        let rows = expect["features"].as_array().unwrap();
        for (x, want) in rows.iter().zip(expect["logits"].as_array().unwrap()) {
            let x: Vec<f32> = x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let ours = s.step_features(&x).unwrap().to_vec();
            let want: Vec<f32> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            assert_eq!(ours.len(), 4);
            worst = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
        }
        assert!(rows.len() >= 10);
        assert!(worst < 1e-4, "{name}: max difference from ONNX Runtime {worst}");
        println!("{name}: max |difference| from ONNX Runtime on the original file {worst:.2e}");
    }
}

/// A Keras regressor (GRU, Dense tanh, Dense with no activation: linear
/// outputs, no softmax), from tf2onnx's ONNX, `.keras` and `.h5`, imported
/// with `--head regression`: every step's value is Keras' own
/// `model.predict` output; without `--head regression` the import is a
/// classifier, whose softmax of a single output is 1.
#[test]
fn a_keras_regressor_imports_with_a_linear_head() {
    use edgegru_runtime::HeadKind;
    let name = "keras_regressor";
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.expect.json"))).unwrap()).unwrap();
    assert_eq!(expect["source"], "keras model.predict");
    let opts = ImportOptions { head: Some(HeadKind::Regression), classes: Some(vec!["mean".into()]), ..ImportOptions::default() };
    let f32_file = |m: FloatModel| {
        m.to_checked_bytes(&edgegru_trainer::export::options(edgegru_runtime::writer::WeightKind::F32, false, false)).unwrap()
    };
    let read = |ext: &str| std::fs::read(fixture(&format!("{name}.{ext}"))).unwrap();
    let files = [
        ("onnx", f32_file(edgegru_trainer::import::onnx::import(&read("onnx"), None, &opts, name).unwrap())),
        ("keras", f32_file(edgegru_trainer::import::keras_file::import(&read("keras"), None, &opts, name).unwrap())),
        ("h5", f32_file(edgegru_trainer::import::keras_file::import(&read("h5"), None, &opts, name).unwrap())),
    ];
    for (source, file) in files {
        let m = Model::from_bytes(&file).unwrap();
        assert_eq!((m.head().kind(), m.outputs(), m.output_name(0)), (HeadKind::Regression, 1, Some("mean")), "{source}");
        let mut arena = vec![0u8; m.arena_size()];
        let mut s = Session::new(&m, &mut arena).unwrap();
        let mut worst = 0f32;
        for (x, want) in expect["features"].as_array().unwrap().iter().zip(expect["logits"].as_array().unwrap()) {
            let x: Vec<f32> = x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = s.step_features(&x).unwrap()[0];
            worst = worst.max((got - want[0].as_f64().unwrap() as f32).abs());
        }
        assert!(worst < 1e-4, "{source}: max difference from Keras {worst}");
        println!("{name} from {source}: max |difference| from Keras' model.predict {worst:.2e}");
    }
    let classifier = edgegru_trainer::import::onnx::import(&read("onnx"), None, &ImportOptions::default(), name).unwrap();
    assert_eq!(classifier.head.kind, HeadKind::Classes, "a feature model defaults to classes");
}

/// The Keras model the project started from, as a Keras user builds it:
/// Tokenizer(num_words, oov_token), post-padded next-word sequences,
/// Embedding -> GRU(return_sequences, dropout=0.2, recurrent_dropout=0.2) ->
/// Dense(relu) -> Dense(softmax), trained; exported by tf2onnx 1.16 (which
/// writes the GRU as a Loop) and saved by Keras as `.keras` and `.h5`.
/// Imported from each of the three, it gives Keras' own probabilities
/// (`model.predict`, not only ONNX Runtime's) and Keras' greedy words.
#[test]
fn the_keras_source_model_with_dropout_imports_exactly() {
    let name = "keras_source";
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture(&format!("{name}.expect.json"))).unwrap()).unwrap();
    assert_eq!(expect["source"], "keras model.predict");
    let onnx = onnx::decode(&std::fs::read(fixture(&format!("{name}.onnx"))).unwrap()).unwrap();
    assert!(onnx.graph.as_ref().unwrap().node.iter().any(|n| n.op_type == "Loop"), "the fixture's GRU must be a Loop");
    let keras_file = |ext: &str| {
        let vocab = vocab::read(&std::fs::read(fixture(&format!("{name}.vocab.json"))).unwrap(), &ListRules::default()).unwrap();
        let bytes = std::fs::read(fixture(&format!("{name}.{ext}"))).unwrap();
        let model = edgegru_trainer::import::keras_file::import(&bytes, Some(vocab), &ImportOptions::default(), name).unwrap();
        model.to_checked_bytes(&edgegru_trainer::export::options(edgegru_runtime::writer::WeightKind::F32, false, false)).unwrap()
    };
    let files = [("onnx", import_fixture(name).unwrap()), ("keras", keras_file("keras")), ("h5", keras_file("h5"))];
    for (source, file) in files {
        let m = Model::from_bytes(&file).unwrap();
        let mut arena = vec![0u8; m.arena_size()];
        let mut s = Session::new(&m, &mut arena).unwrap();
        let mut worst = 0f32;
        for (tok, row) in expect["tokens"].as_array().unwrap().iter().zip(expect["logits"].as_array().unwrap()) {
            let logits = s.step(tok.as_u64().unwrap() as u32).unwrap().to_vec();
            let max = logits.iter().copied().fold(f32::MIN, f32::max);
            let e: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            let want: Vec<f32> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            worst = e.iter().zip(&want).map(|(a, b)| (a / sum - b).abs()).fold(worst, f32::max);
        }
        assert!(worst < 1e-5, "{source}: max difference from Keras' model.predict {worst}");
        println!("{name} from .{source}: max |difference| from Keras' model.predict {worst:.2e}");
        // Greedy decoding with the OOV token allowed is the source's argmax.
        let greedy = &expect["greedy"];
        let words: Vec<&str> = greedy["words"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
        s.reset();
        let params = edgegru_runtime::SamplingParams { allow_oov: true, ..edgegru_runtime::SamplingParams::GREEDY };
        let mut out = [0u8; 512];
        let g = s
            .generate(greedy["prompt"].as_str().unwrap(), words.len(), &params, &mut edgegru_runtime::Rng::new(1), &mut out, |_, _| true)
            .unwrap();
        let text = std::str::from_utf8(&out[..g.bytes]).unwrap();
        assert_eq!(text.split_whitespace().collect::<Vec<_>>(), words, "{source}: {text:?}");
    }
}

/// Keras files that do not hold the network edgegru runs are refused naming
/// the layer: a damaged configuration, and not a model file at all.
#[test]
fn keras_files_that_do_not_fit_are_refused() {
    let h5 = std::fs::read(fixture("keras_source.h5")).unwrap();
    let keras = std::fs::read(fixture("keras_source.keras")).unwrap();
    let opts = ImportOptions::default();
    let err = format!("{:#}", edgegru_trainer::import::keras_file::import(b"not a model", None, &opts, "x").unwrap_err());
    assert!(err.contains("neither a .keras archive nor an HDF5 .h5 file"), "{err}");
    // The .keras archive with config.json edited: a GRU with reset_after=False, and an LSTM.
    let edited = |from: &str, to: &str| {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&keras[..])).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).unwrap();
            if f.name() == "config.json" {
                data = String::from_utf8(data).unwrap().replacen(from, to, 1).into_bytes();
            }
            out.start_file(f.name(), zip::write::SimpleFileOptions::default()).unwrap();
            std::io::Write::write_all(&mut out, &data).unwrap();
        }
        let bytes = out.finish().unwrap().into_inner();
        format!("{:#}", edgegru_trainer::import::keras_file::import(&bytes, None, &opts, "x").unwrap_err())
    };
    let err = edited("\"reset_after\": true", "\"reset_after\": false");
    assert!(err.contains("GRU \"gru\": reset_after=False"), "{err}");
    let err = edited("\"class_name\": \"GRU\"", "\"class_name\": \"LSTM\"");
    assert!(err.contains("unsupported layer LSTM"), "{err}");
    assert!(!h5.is_empty());
}

/// Edits inside the Keras loop body of the source model: what does not
/// fit a GRU is refused naming the body node and why, and a dropout mask
/// that is not all ones is not folded away.
#[test]
fn keras_loops_that_are_not_the_gru_edgegru_runs_are_refused() {
    let import_edited = |edit: &dyn Fn(&mut Vec<onnx::pb::NodeProto>)| {
        let mut model = onnx::decode(&std::fs::read(fixture("keras_source.onnx")).unwrap()).unwrap();
        let lp = model.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "Loop").unwrap();
        let body = lp.attribute.iter_mut().find(|a| a.name == "body").unwrap().g.as_mut().unwrap();
        edit(&mut body.node);
        let vocab = vocab::read(&std::fs::read(fixture("keras_source.vocab.json")).unwrap(), &ListRules::default()).unwrap();
        let bytes = <onnx::pb::ModelProto as prost::Message>::encode_to_vec(&model);
        edgegru_trainer::import::onnx::import(&bytes, Some(vocab), &ImportOptions::default(), "x")
    };
    let edited = |edit: &dyn Fn(&mut Vec<onnx::pb::NodeProto>)| format!("{:#}", import_edited(edit).unwrap_err());
    let err = edited(&|nodes| nodes.iter_mut().find(|n| n.op_type == "Tanh").unwrap().op_type = "Relu".into());
    assert!(err.contains("the candidate state is not a tanh") && err.contains("Loop \"sequential/gru/while_loop\""), "{err}");
    let err = edited(&|nodes| {
        for n in nodes.iter_mut().filter(|n| n.op_type == "Sigmoid") {
            n.op_type = "HardSigmoid".into();
        }
    });
    assert!(err.contains("the update gate is not a sigmoid"), "{err}");
    // A recurrent-dropout mask of 0.8 instead of ones (a training-time mask).
    let err = edited(&|nodes| {
        let mask = nodes.iter_mut().find(|n| n.op_type == "ConstantOfShape").unwrap();
        let value = mask.attribute.iter_mut().find(|a| a.name == "value").unwrap().t.as_mut().unwrap();
        value.raw_data = 0.8f32.to_le_bytes().to_vec();
        value.float_data.clear();
    });
    assert!(err.contains("neither the step's input nor the state") || err.contains("does not keep a share of the old state"), "{err}");
    // A body node with its inputs removed, or with one input too many, is an
    // error (or, for a node the GRU does not read, no matter), never a panic.
    let count = {
        let model = onnx::decode(&std::fs::read(fixture("keras_source.onnx")).unwrap()).unwrap();
        let lp = model.graph.unwrap().node.into_iter().find(|n| n.op_type == "Loop").unwrap();
        lp.attribute.into_iter().find(|a| a.name == "body").unwrap().g.unwrap().node.len()
    };
    let mut refused = 0;
    for i in 0..count {
        refused += import_edited(&|nodes| nodes[i].input.clear()).is_err() as usize;
        refused += import_edited(&|nodes| {
            let extra = nodes[i].input.first().cloned().unwrap_or_default();
            nodes[i].input.push(extra);
        })
        .is_err() as usize;
    }
    assert!(refused > count, "most edits of the cell must be refused ({refused} of {})", 2 * count);
}

/// A user's own export (not edgegru's step graph of its weights) runs on
/// tract and ONNX Runtime as it is, the whole sequence at every step: greedy
/// decoding in lockstep with the natively imported model gives the same
/// tokens. Tract has no ONNX `Loop`, so the Keras model with recurrent
/// dropout is refused by tract when the session opens, naming the loop.
#[test]
fn users_own_onnx_files_run_on_tract_and_onnx_runtime_as_imported() {
    let ort = ort_library();
    let models = ["torch_batch_first", "torch_seq_first_no_bias", "torch_two_layers", "keras_reset_after", "keras_stacked", "keras_source"];
    for name in models {
        let original = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
        let vocab = std::fs::read(fixture(&format!("{name}.vocab.json"))).unwrap();
        let annotated = edgegru_trainer::backend::user_onnx(&original, Some(&vocab)).unwrap().into_owned();
        let native_file = import_fixture(name).unwrap();
        let native_model = Model::from_bytes(&native_file).unwrap();
        let mut arena = vec![0u8; native_model.arena_size()];
        let prompt = [2u32, 3, 4];
        let mut engines: Vec<(&str, OnnxSession)> = Vec::new();
        match OnnxSession::tract(&annotated) {
            Ok(s) => engines.push(("tract", s)),
            Err(e) => {
                assert_eq!(name, "keras_source", "{name}: {e}");
                assert!(e.to_string().contains("Unimplemented(Loop)"), "{e}");
            }
        }
        if let Some(lib) = &ort {
            engines.push(("ort", OnnxSession::ort(&annotated, lib).unwrap()));
        }
        for (backend, mut session) in engines {
            let mut native = Session::new(&native_model, &mut arena).unwrap();
            let a = edgegru_trainer::backend::compare_greedy(&mut native, &mut session, &prompt, 20).unwrap();
            assert!(a.identical, "{name} on {backend}: {}/{} greedy tokens equal", a.equal_tokens, a.tokens);
            // Models ending in softmax give log-probabilities, the native ones logits:
            // equal up to a constant per step, so only plain logits are compared.
            if !name.starts_with("keras") {
                assert!(a.max_logit_diff < 1e-4, "{name} on {backend}: logits differ by {}", a.max_logit_diff);
            }
        }
    }
    // A feature model (PyTorch classifier): every step's class probabilities.
    let original = std::fs::read(fixture("torch_features.onnx")).unwrap();
    let annotated = edgegru_trainer::backend::user_onnx(&original, None).unwrap().into_owned();
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("torch_features.expect.json")).unwrap()).unwrap();
    let mut sessions = vec![OnnxSession::tract(&annotated).unwrap()];
    if let Some(lib) = &ort {
        sessions.push(OnnxSession::ort(&annotated, lib).unwrap());
    }
    for mut s in sessions {
        for (x, want) in expect["features"].as_array().unwrap().iter().zip(expect["logits"].as_array().unwrap()) {
            let x: Vec<f32> = x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            let got = s.step_features(&x).unwrap().to_vec();
            for (g, w) in got.iter().zip(want.as_array().unwrap()) {
                assert!((g - w.as_f64().unwrap() as f32).abs() < 1e-5, "{}: {g} vs {w}", s.backend());
            }
        }
    }
}

#[test]
fn unsupported_onnx_models_are_refused_naming_the_node() {
    for (name, says) in [
        ("torch_bidirectional", "GRU \"/gru/GRU\": direction \"bidirectional\": a bidirectional or reverse GRU reads the sequence's end"),
        ("keras_reset_before", "in Loop \"sequential_1/gru_1/while_loop\": the reset gate multiplies the state before the recurrent product (Keras reset_after=False)"),
    ] {
        let err = format!("{:#}", import_fixture(name).unwrap_err());
        assert!(err.contains(says), "{name}: {err}");
    }
    // Edits of a good file: an operator outside a GRU network, and a GRU
    // with linear_before_reset = 0.
    let edited = |edit: &dyn Fn(&mut Vec<onnx::pb::NodeProto>)| {
        let mut model = onnx::decode(&std::fs::read(fixture("torch_batch_first.onnx")).unwrap()).unwrap();
        edit(&mut model.graph.as_mut().unwrap().node);
        let vocab = vocab::read(&std::fs::read(fixture("torch_batch_first.vocab.json")).unwrap(), &ListRules::default()).unwrap();
        let bytes = <onnx::pb::ModelProto as prost::Message>::encode_to_vec(&model);
        format!("{:#}", edgegru_trainer::import::onnx::import(&bytes, Some(vocab), &ImportOptions::default(), "x").unwrap_err())
    };
    let err = edited(&|nodes| nodes.iter_mut().find(|n| n.op_type == "Relu").unwrap().op_type = "Elu".into());
    assert!(err.contains("Elu \"/Relu\": unsupported operator Elu"), "{err}");
    let err = edited(&|nodes| {
        let gru = nodes.iter_mut().find(|n| n.op_type == "GRU").unwrap();
        gru.attribute.iter_mut().find(|a| a.name == "linear_before_reset").unwrap().i = 0;
    });
    assert!(err.contains("GRU \"/gru/GRU\": linear_before_reset = 0"), "{err}");
}

/// `model` with its graph's nodes in another order.
fn reordered(model: &onnx::pb::ModelProto, order: impl Fn(&mut Vec<onnx::pb::NodeProto>)) -> Vec<u8> {
    use prost::Message;
    let mut m = model.clone();
    order(&mut m.graph.as_mut().unwrap().node);
    m.encode_to_vec()
}

/// The import follows the graph's edges, not the file's order: every
/// fixture, with its nodes reversed (no longer a topological order) and in
/// another topological order (each layer's shape plumbing moved to just
/// before the node that reads it), imports to the same file.
#[test]
fn imports_follow_the_graphs_edges_not_the_file_order() {
    let names =
        ["torch_batch_first", "torch_seq_first_no_bias", "torch_two_layers", "torch_features", "keras_reset_after", "keras_stacked"];
    for name in names.into_iter().chain(["keras_square_loop", "keras_source", "keras_features", "keras_regressor"]) {
        let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
        let vocab = || {
            let f = fixture(&format!("{name}.vocab.json"));
            f.exists().then(|| vocab::read(&std::fs::read(&f).unwrap(), &ListRules::default()).unwrap())
        };
        let import = |b: &[u8]| {
            let m = edgegru_trainer::import::onnx::import(b, vocab(), &ImportOptions::default(), name)
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            m.to_checked_bytes(&ExportOptions::default()).unwrap()
        };
        let want = import(&bytes);
        let model = onnx::decode(&bytes).unwrap();
        assert_eq!(import(&reordered(&model, |n| n.reverse())), want, "{name}: nodes reversed");
        // Plumbing (nodes without weights) as late as possible: each just before its first reader.
        let later = reordered(&model, |nodes| {
            let plumbing =
                |n: &onnx::pb::NodeProto| ["Shape", "Unsqueeze", "Squeeze", "Transpose", "Constant", "Cast"].contains(&n.op_type.as_str());
            let (moved, rest): (Vec<_>, Vec<_>) = nodes.drain(..).partition(plumbing);
            nodes.extend(rest);
            nodes.splice(0..0, moved.into_iter().rev());
        });
        assert_eq!(import(&later), want, "{name}: another order");
    }
}

/// A node whose output nothing the network's outputs depend on uses is
/// refused, named; so is a layer that does not read the layer before it.
#[test]
fn a_node_off_the_chain_is_named_in_the_refusal() {
    use onnx::pb::NodeProto;
    use prost::Message;
    let model = onnx::decode(&std::fs::read(fixture("torch_features.onnx")).unwrap()).unwrap();
    let graph = model.graph.as_ref().unwrap();
    let gru = graph.node.iter().find(|n| n.op_type == "GRU").unwrap().clone();
    let import = |m: &onnx::pb::ModelProto| edgegru_trainer::import::onnx::import(&m.encode_to_vec(), None, &ImportOptions::default(), "x");
    let mut dangling = model.clone();
    let side = NodeProto {
        op_type: "Relu".into(),
        name: "side_branch".into(),
        input: vec![gru.output[1].clone()],
        output: vec!["unused".into()],
        ..Default::default()
    };
    dangling.graph.as_mut().unwrap().node.push(side);
    let err = format!("{:#}", import(&dangling).unwrap_err());
    assert!(err.contains("side_branch") && err.contains("feeds nothing"), "{err}");
    // The same branch as a second graph output: it feeds an output, but not the chain.
    let mut branch = dangling.clone();
    let out = onnx::pb::ValueInfoProto { name: "unused".into(), ..Default::default() };
    branch.graph.as_mut().unwrap().output.push(out);
    let err = format!("{:#}", import(&branch).unwrap_err());
    assert!(err.contains("side_branch"), "{err}");
    // The output layer reading the GRU's output instead of the dense layer's,
    // the dense layer kept as a second output.
    let mut skip = model.clone();
    let g = skip.graph.as_mut().unwrap();
    let matmuls: Vec<usize> = g.node.iter().enumerate().filter(|(_, n)| n.op_type == "MatMul").map(|(i, _)| i).collect();
    g.node[matmuls[1]].input[0] = g.node[matmuls[0]].input[0].clone();
    g.output.push(onnx::pb::ValueInfoProto { name: "/Tanh_output_0".into(), ..Default::default() });
    let err = format!("{:#}", import(&skip).unwrap_err());
    assert!(err.contains("/out/MatMul") && err.contains("not the output of the layer before it"), "{err}");
}

/// The ONNX sessions keep the one session interface's promises about
/// states: `hidden()` is every layer's state (the native session's values),
/// a saved state restores the stream exactly, a damaged state or one of
/// another network is refused and changes nothing, and a whole-sequence
/// graph says it has no state to save.
#[test]
fn onnx_sessions_save_and_restore_their_states() {
    let fm = model();
    let native_file = bytes(&fm, &ExportOptions::default());
    let native_model = Model::from_bytes(&native_file).unwrap();
    let mut arena = vec![0u8; native_model.arena_size()];
    let mut native = Session::new(&native_model, &mut arena).unwrap();
    let mut s = OnnxSession::tract(&onnx::to_bytes(&fm, OnnxWeights::Float).unwrap()).unwrap();
    s.feed("the cat").unwrap();
    native.feed("the cat").unwrap();
    assert_eq!(StepSession::<OnnxError>::hidden(&s).len(), native.hidden().len());
    let diff = s.hidden().iter().zip(native.hidden()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-4, "hidden states differ by {diff}");
    let mut state = vec![0u8; s.state_size()];
    assert_eq!(s.save_state(&mut state).unwrap(), state.len());
    let after = |s: &mut OnnxSession| -> Vec<f32> {
        s.feed(" sat").unwrap();
        s.output().unwrap().to_vec()
    };
    let first = after(&mut s);
    s.restore_state(&state).unwrap();
    assert_eq!(after(&mut s), first, "a restored state continues the stream exactly");
    // Damaged, or of another network: refused, the session unchanged.
    let before = s.output().unwrap().to_vec();
    let mut damaged = state.clone();
    damaged[20] ^= 1;
    assert!(matches!(s.restore_state(&damaged), Err(OnnxError::Runtime(edgegru_runtime::Error::StateDamaged { .. }))));
    let other = edgegru_tests::random_char("abcdefghijklmnopqrstuvwxyz .,'\n", 16, 64, 48, 22);
    let mut o = OnnxSession::tract(&onnx::to_bytes(&other, OnnxWeights::Float).unwrap()).unwrap();
    o.feed("x").unwrap();
    let mut other_state = vec![0u8; o.state_size()];
    o.save_state(&mut other_state).unwrap();
    assert!(matches!(s.restore_state(&other_state), Err(OnnxError::Runtime(edgegru_runtime::Error::StateMismatch { .. }))));
    assert_eq!(s.output().unwrap(), &before[..]);
    // A user's whole-sequence graph keeps its inputs, not a state.
    let original = std::fs::read(fixture("torch_features.onnx")).unwrap();
    let annotated = edgegru_trainer::backend::user_onnx(&original, None).unwrap().into_owned();
    let seq = OnnxSession::tract(&annotated).unwrap();
    assert_eq!(seq.state_size(), 0);
    assert!(matches!(seq.save_state(&mut [0u8; 64]), Err(OnnxError::Unsupported(_))));
}

/// A feature model that fills missing values: the ONNX sessions fill them as
/// the runtime does (its metadata carries the names, the fill and the means),
/// through a saved state too; a NaN is refused by a model that refuses.
#[test]
fn onnx_sessions_fill_missing_features_as_the_runtime_does() {
    use edgegru_runtime::writer::FloatInput;
    use edgegru_runtime::Fill;
    let nan = f32::NAN;
    for fill in Fill::ALL {
        let mut fm = edgegru_tests::feature_classifier(3, &[12], &[], 2, 9);
        if let FloatInput::Features { fill: f, names, .. } = &mut fm.input {
            (*f, *names) = (fill, vec!["ax".into(), "ay".into(), "az".into()]);
        }
        let file = bytes(&fm, &ExportOptions::default());
        let model = Model::from_bytes(&file).unwrap();
        let mut arena = vec![0u8; model.arena_size()];
        let mut native = Session::new(&model, &mut arena).unwrap();
        let mut tract = OnnxSession::tract(&onnx::to_bytes(&fm, OnnxWeights::Float).unwrap()).unwrap();
        assert_eq!((tract.network().fill, tract.network().feature_names.len()), (fill, 3));
        let steps = [[nan, 0.5, 1.0], [1.0, 2.0, 3.0], [nan, nan, -1.0]];
        let mut state = vec![0u8; tract.state_size()];
        for (k, x) in steps.iter().enumerate() {
            let want = native.step_features(x).map(<[f32]>::to_vec);
            let got = tract.step_features(x).map(<[f32]>::to_vec);
            match (want, got) {
                (Ok(w), Ok(g)) => {
                    let diff = w.iter().zip(&g).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                    assert!(diff < 1e-5, "{fill:?} step {k}: {w:?} vs {g:?}");
                }
                (Err(w), Err(OnnxError::Runtime(g))) => assert_eq!(w, g, "{fill:?} step {k}"),
                (w, g) => panic!("{fill:?} step {k}: native {w:?}, tract {g:?}"),
            }
            if k == 1 {
                tract.save_state(&mut state).unwrap();
                tract.reset();
                tract.step_features(&[5.0, 5.0, 5.0]).unwrap();
                tract.restore_state(&state).unwrap();
            }
        }
    }
}

/// A session that owns its model (what the Python package keeps between
/// calls) steps as `with_session` does, on every engine, from another thread
/// too; what it cannot open is refused.
#[test]
fn an_owned_session_steps_as_with_session_does_from_any_thread() {
    use edgegru_trainer::backend::{with_session, Backend, OwnedSession};
    let file: std::sync::Arc<[u8]> = edgegru_trainer::builtin::resolve("basicmotions").unwrap().into();
    let x = [0.5f32, -1.0, 9.0, 0.1, 0.0, 0.2];
    let mut backends = vec![Backend::Native, Backend::Tract];
    if ort_library().is_some() {
        backends.push(Backend::Ort);
    }
    for backend in backends {
        let want = with_session(backend, &file, None, |s| {
            s.step_features(&x)?;
            Ok(s.step_features(&x)?.to_vec())
        })
        .unwrap();
        let mut owned = OwnedSession::open(backend, file.clone(), None).unwrap();
        owned.get().step_features(&x).unwrap();
        let got = std::thread::spawn(move || owned.get().step_features(&x).unwrap().to_vec()).join().unwrap();
        assert_eq!(
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            "{backend:?}"
        );
    }
    let err = OwnedSession::open(Backend::Native, std::sync::Arc::from(&b"ONNX?"[..]), None).err().unwrap();
    assert!(err.to_string().contains("not an .egru model file"), "{err}");
    let damaged: Vec<u8> = file.iter().enumerate().map(|(i, &b)| if i == file.len() / 2 { b ^ 1 } else { b }).collect();
    assert!(OwnedSession::open(Backend::Native, damaged.into(), None).is_err());
}

/// A `.keras` file keeps each layer's weights under its class in snake case
/// (gru, gru_1, dense, dense_1), not under the layer's name: layers named
/// "encoder", "gru", "dense_1" and "probs" import with the right weights,
/// giving Keras' own probabilities at every step.
#[test]
fn keras_layers_named_unlike_their_saved_keys_import_exactly() {
    let expect: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("keras_named.expect.json")).unwrap()).unwrap();
    let keras = std::fs::read(fixture("keras_named.keras")).unwrap();
    let model = edgegru_trainer::import::keras_file::import(&keras, None, &ImportOptions::default(), "named").unwrap();
    let file = model.to_checked_bytes(&edgegru_trainer::export::options(edgegru_runtime::writer::WeightKind::F32, false, false)).unwrap();
    let m = Model::from_bytes(&file).unwrap();
    let mut arena = vec![0u8; m.arena_size()];
    let mut s = Session::new(&m, &mut arena).unwrap();
    let mut worst = 0f32;
    for (x, want) in expect["features"].as_array().unwrap().iter().zip(expect["logits"].as_array().unwrap()) {
        let x: Vec<f32> = x.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let got = s.step_features(&x).unwrap();
        for (g, w) in got.iter().zip(want.as_array().unwrap()) {
            worst = worst.max((g - w.as_f64().unwrap() as f32).abs());
        }
    }
    assert!(worst < 1e-5, "largest difference from Keras: {worst}");
}
