//! Keras model files, read without tf2onnx: the `.keras` format (a zip of
//! `config.json` and `model.weights.h5`, Keras 2.13+ and Keras 3) and the
//! legacy HDF5 `.h5` (`model.save("m.h5")`: the configuration in the root
//! attribute `model_config`, the weights under `model_weights/`).
//!
//! The layer stack is read from the configuration in order: `InputLayer`,
//! `Embedding` (first) or float features, `GRU` layers (`reset_after=True`,
//! tanh and sigmoid, forward), `Dense` layers with linear, relu, tanh,
//! sigmoid or (last) softmax activations; `Dropout` is skipped (it does
//! nothing at inference). Anything else is refused naming the layer and why.
//! HDF5 is read by `hdf5-reader` (pure Rust, no `libhdf5`).

use std::io::Read;

use anyhow::{bail, ensure, Context, Result};
use edgegru_runtime::writer::{FloatModel, TokenizerSpec};
use edgegru_runtime::Activation;
use hdf5_reader::Hdf5File;
use serde_json::Value;

use super::onnx::{build, Constant, Gru, Layers};
use super::ImportOptions;

/// Where a layer's weights are, in one of the two file layouts.
enum Weights {
    /// `.keras`: `layers/KEY/vars/I` (a recurrent layer's under `cell/`),
    /// where KEY is not the layer's name but its class in snake case,
    /// numbered from the second layer of a class on (`dense`, `dense_1`):
    /// how Keras' saving library names what it saves.
    Keras3(Hdf5File),
    /// `.h5`: datasets named `...:0` under `model_weights/NAME/`.
    Legacy(Hdf5File),
}

impl Weights {
    /// Weight `index` of layer `name` (`kernel`, `recurrent_kernel`, `bias`,
    /// `embeddings` are indices 0, 1, 2, 0 as Keras orders them).
    fn get(&self, layer: &LayerKey<'_>, index: usize, legacy_name: &str) -> Result<Constant> {
        let name = layer.name;
        let (file, path) = match self {
            Weights::Keras3(f) => {
                // The key Keras saves under; a file whose paths follow the layer names instead is read too.
                let candidates: Vec<String> = [layer.key.as_str(), name]
                    .iter()
                    .flat_map(|k| [format!("layers/{k}/vars/{index}"), format!("layers/{k}/cell/vars/{index}")])
                    .collect();
                let found = candidates.iter().find(|p| f.dataset(p).is_ok()).unwrap_or(&candidates[0]).clone();
                (f, found)
            }
            Weights::Legacy(f) => (f, find_legacy(f, name, legacy_name)?),
        };
        let d = file.dataset(&path).with_context(|| format!("layer {name:?}: no weight {path:?}"))?;
        let dims: Vec<usize> = d.shape().iter().map(|&v| v as usize).collect();
        let data: Vec<f32> = d.read_array::<f32>().with_context(|| format!("{path:?} is not float32"))?.iter().copied().collect();
        ensure!(data.len() == dims.iter().product::<usize>(), "{path:?}: {} values for shape {dims:?}", data.len());
        Ok(Constant { dims, data })
    }
}

/// A layer of the configuration: its name, and the key its weights are
/// saved under in a `.keras` file.
struct LayerKey<'a> {
    name: &'a str,
    key: String,
}

/// The keys Keras' saving library gives `layers` in a `.keras` file: each
/// layer's class in snake case (`GRU` -> `gru`, `InputLayer` ->
/// `input_layer`, `Dense` -> `dense`), `_1`, `_2`, ... from the second
/// layer of the same class on.
fn keras_keys(layers: &[Value]) -> Vec<String> {
    let mut used: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    layers
        .iter()
        .map(|layer| {
            let class = layer.get("class_name").and_then(Value::as_str).unwrap_or("");
            let base = match class {
                "GRU" => "gru".to_string(),
                "InputLayer" => "input_layer".to_string(),
                other => other.to_lowercase(),
            };
            let n = used.entry(base.clone()).and_modify(|n| *n += 1).or_insert(0);
            if *n == 0 {
                base
            } else {
                format!("{base}_{n}")
            }
        })
        .collect()
}

/// The legacy file's dataset for `legacy_name` (e.g. `kernel:0`) of layer `name`.
fn find_legacy(f: &Hdf5File, name: &str, legacy_name: &str) -> Result<String> {
    let candidates = [
        format!("model_weights/{name}/{name}/{legacy_name}"),
        format!("model_weights/{name}/{name}/gru_cell/{legacy_name}"),
        format!("model_weights/{name}/{name}/{}_cell/{legacy_name}", name.trim_end_matches(|c: char| c == '_' || c.is_ascii_digit())),
    ];
    candidates
        .into_iter()
        .find(|p| f.dataset(p).is_ok())
        .with_context(|| format!("layer {name:?}: no weight {legacy_name:?} under model_weights/{name}"))
}

/// Reads a `.keras` or `.h5` file into f32 weights (see the module comment).
pub fn import(bytes: &[u8], tokenizer: Option<TokenizerSpec>, opts: &ImportOptions, name: &str) -> Result<FloatModel> {
    let (config, weights) = if bytes.starts_with(b"PK") {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).context("not a .keras archive")?;
        let mut text = String::new();
        zip.by_name("config.json").context("the .keras archive has no config.json")?.read_to_string(&mut text)?;
        let mut h5 = Vec::new();
        zip.by_name("model.weights.h5").context("the .keras archive has no model.weights.h5")?.read_to_end(&mut h5)?;
        let file = Hdf5File::from_vec(h5).context("model.weights.h5 is not HDF5")?;
        (serde_json::from_str::<Value>(&text).context("config.json is not JSON")?, Weights::Keras3(file))
    } else {
        let file = Hdf5File::from_vec(bytes.to_vec()).context("neither a .keras archive nor an HDF5 .h5 file")?;
        let text = file
            .root_group()?
            .attribute("model_config")
            .context("the .h5 file has no model_config (saved with save_weights? save the whole model)")?
            .read_string()?;
        (serde_json::from_str::<Value>(&text).context("model_config is not JSON")?, Weights::Legacy(file))
    };
    let layers = config.pointer("/config/layers").and_then(Value::as_array).context("the configuration lists no layers")?;
    let mut found = Layers::default();
    for (layer, key) in layers.iter().zip(keras_keys(layers)) {
        read_layer(layer, key, &weights, &mut found)?;
    }
    build(found, tokenizer, opts, name, "keras", config.get("keras_version").and_then(Value::as_str).unwrap_or(""))
}

/// One layer of the configuration into `found`.
fn read_layer(layer: &Value, key: String, weights: &Weights, found: &mut Layers) -> Result<()> {
    let class = layer.get("class_name").and_then(Value::as_str).unwrap_or("?");
    let cfg = layer.get("config").context("a layer without config")?;
    let name = cfg.get("name").and_then(Value::as_str).context("a layer without a name")?;
    let at = LayerKey { name, key };
    let l = format!("{class} {name:?}");
    let text = |key: &str| cfg.get(key).and_then(Value::as_str);
    let flag = |key: &str| cfg.get(key).and_then(Value::as_bool);
    match class {
        "InputLayer" | "Dropout" => {}
        "Embedding" => {
            ensure!(found.embedding.is_none(), "{l}: a second embedding");
            let t = weights.get(&at, 0, "embeddings:0")?;
            ensure!(t.dims.len() == 2, "{l}: embeddings of shape {:?}", t.dims);
            found.embedding = Some((t.data, t.dims[0], t.dims[1]));
        }
        "GRU" => {
            ensure!(flag("reset_after") != Some(false), "{l}: reset_after=False, a different cell from the one edgegru runs (r * (U h + c): reset_after=True, the Keras default); retrain with reset_after=True");
            ensure!(flag("go_backwards") != Some(true), "{l}: go_backwards reads the sequence's end first, so it cannot run step by step");
            ensure!(
                text("activation").unwrap_or("tanh") == "tanh" && text("recurrent_activation").unwrap_or("sigmoid") == "sigmoid",
                "{l}: activations other than tanh and sigmoid"
            );
            let kernel = weights.get(&at, 0, "kernel:0")?;
            let recurrent = weights.get(&at, 1, "recurrent_kernel:0")?;
            ensure!(kernel.dims.len() == 2 && kernel.dims[1] % 3 == 0, "{l}: kernel of shape {:?}", kernel.dims);
            let (input, hidden) = (kernel.dims[0], kernel.dims[1] / 3);
            ensure!(recurrent.dims == [hidden, 3 * hidden], "{l}: recurrent kernel of shape {:?}", recurrent.dims);
            let (wb, rb) = if flag("use_bias") == Some(false) {
                (vec![0.0; 3 * hidden], vec![0.0; 3 * hidden])
            } else {
                let b = weights.get(&at, 2, "bias:0")?;
                ensure!(b.dims == [2, 3 * hidden], "{l}: bias of shape {:?}; want [2, {}]", b.dims, 3 * hidden);
                (b.data[..3 * hidden].to_vec(), b.data[3 * hidden..].to_vec())
            };
            // Keras stores [in, 3 units] with gates z, r, h in column blocks:
            // transposed, the rows are ONNX's z, r, n.
            let rows = |t: &Constant| (0..t.dims[1]).flat_map(|o| (0..t.dims[0]).map(move |i| t.data[i * t.dims[1] + o])).collect();
            found.push_gru(Gru { node: l, hidden, input, w: rows(&kernel), r: rows(&recurrent), wb, rb })?;
        }
        "Dense" => {
            let kernel = weights.get(&at, 0, "kernel:0")?;
            let bias = if flag("use_bias") == Some(false) { None } else { Some(weights.get(&at, 1, "bias:0")?) };
            found.linear_named(l.clone(), &kernel, false, bias.as_ref())?;
            match text("activation").unwrap_or("linear") {
                "linear" => {}
                "relu" => found.activation_named(l, Activation::Relu)?,
                "tanh" => found.activation_named(l, Activation::Tanh)?,
                "sigmoid" => found.activation_named(l, Activation::Sigmoid)?,
                "softmax" => found.softmax = true,
                other => bail!("{l}: activation {other:?} (edgegru runs linear, relu, tanh, sigmoid, and softmax last)"),
            }
        }
        other => bail!("{l}: unsupported layer {other} (edgegru imports Embedding or features -> GRU layers -> Dense layers)"),
    }
    Ok(())
}
