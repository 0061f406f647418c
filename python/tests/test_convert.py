"""convert(): every import fixture of the project, from a path, from bytes
and from live objects, gives the same bytes as `edgegru import`."""

import sys
import types

import pytest

import edgegru
from conftest import run_cli

# (source file, vocabulary, extra options as (python kwargs, command-line flags))
CASES = [
    ("torch_batch_first.onnx", "torch_batch_first.vocab.json", {}, []),
    ("torch_seq_first_no_bias.onnx", "torch_seq_first_no_bias.vocab.json", {}, []),
    ("torch_two_layers.onnx", "torch_two_layers.vocab.json", {}, []),
    ("keras_reset_after.onnx", "keras_reset_after.vocab.json", {}, []),
    ("keras_stacked.onnx", "keras_stacked.vocab.json", {}, []),
    ("keras_square_loop.onnx", "keras_square_loop.vocab.json", {}, []),
    ("keras_source.onnx", "keras_source.vocab.json", {}, []),
    ("keras_source.keras", "keras_source.vocab.json", {}, []),
    ("keras_source.h5", "keras_source.vocab.json", {}, []),
    ("torch_features.onnx", None, {"classes": ["a", "b", "c", "d"]}, ["--classes", "a,b,c,d"]),
    ("keras_features.onnx", None, {}, []),
    ("keras_named.keras", None, {}, []),
    ("keras_regressor.onnx", None, {"head": "regression", "classes": ["mean"]}, ["--head", "regression", "--classes", "mean"]),
    ("keras_regressor.keras", None, {"head": "regression", "classes": ["mean"]}, ["--head", "regression", "--classes", "mean"]),
    ("keras_regressor.h5", None, {"head": "regression", "classes": ["mean"]}, ["--head", "regression", "--classes", "mean"]),
]


def cli_import(cli, imports, tmp_path, source, vocab, flags, weights="int8", numerics="hybrid"):
    out = tmp_path / "cli.egru"
    kind = "--keras" if source.endswith((".keras", ".h5")) else "--onnx"
    args = ["import", kind, imports / source, "--weights", weights, "--numerics", numerics, "--out", out, "--force", *flags]
    if vocab:
        args += ["--vocab", imports / vocab]
    run_cli(cli, *args)
    return out.read_bytes()


@pytest.mark.parametrize("source,vocab,kwargs,flags", CASES, ids=[c[0] for c in CASES])
def test_convert_writes_the_bytes_edgegru_import_writes(cli, imports, tmp_path, source, vocab, kwargs, flags):
    want = cli_import(cli, imports, tmp_path, source, vocab, flags)
    model = edgegru.convert(imports / source, vocab=imports / vocab if vocab else None, name="cli", **kwargs)
    assert model.to_bytes() == want
    assert isinstance(model.verification, dict)
    # The same from bytes (the kind sniffed), and the vocabulary as JSON text.
    again = edgegru.convert((imports / source).read_bytes(), vocab=(imports / vocab).read_text() if vocab else None, name="cli", **kwargs)
    assert again.to_bytes() == want


def test_integer_only_and_f32_conversions_match_the_command_line(cli, imports, tmp_path):
    for weights, numerics in [("f32", "hybrid"), ("int8", "int")]:
        want = cli_import(cli, imports, tmp_path, "torch_features.onnx", None, [], weights, numerics)
        got = edgegru.convert(imports / "torch_features.onnx", weights=weights, numerics=numerics, name="cli")
        assert got.to_bytes() == want, (weights, numerics)


def test_the_verification_table_of_a_language_model(imports):
    model = edgegru.convert(imports / "keras_source.onnx", vocab=imports / "keras_source.vocab.json", weights="f32")
    v = model.verification
    engine, agreement = v["against_source"]
    assert agreement["equal_tokens"] == agreement["tokens"] > 0 and engine
    assert edgegru.convert(imports / "torch_features.onnx").verification["skipped"]


def test_a_vocabulary_as_a_list_or_a_tokenizer_object(imports):
    import json

    want = edgegru.convert(imports / "torch_two_layers.onnx", vocab=imports / "torch_two_layers.vocab.json").to_bytes()
    tokens = json.loads((imports / "torch_two_layers.vocab.json").read_text())
    assert edgegru.convert(imports / "torch_two_layers.onnx", vocab=tokens).to_bytes() == want

    class Tokenizer:  # what keras.preprocessing.text.Tokenizer offers: to_json()
        def to_json(self):
            return (imports / "keras_source.vocab.json").read_text()

    a = edgegru.convert(imports / "keras_source.onnx", vocab=Tokenizer()).to_bytes()
    assert a == edgegru.convert(imports / "keras_source.onnx", vocab=imports / "keras_source.vocab.json").to_bytes()


def test_a_live_keras_model_is_saved_as_keras_and_converted(imports):
    """A Keras model object (its class from the keras package) is saved with
    model.save(path.keras), as Keras 3 and tf.keras do; the stand-in here
    writes the fixture's own .keras file."""
    Live = type("Sequential", (), {"__module__": "keras.src.models.sequential", "name": "live_lm"})
    saved = []

    def save(self, path):
        assert path.endswith(".keras")
        saved.append(path)
        with open(path, "wb") as f:
            f.write((imports / "keras_source.keras").read_bytes())

    Live.save = save
    got = edgegru.convert(Live(), vocab=imports / "keras_source.vocab.json", name="x")
    assert saved and got.to_bytes() == edgegru.convert(imports / "keras_source.keras", vocab=imports / "keras_source.vocab.json", name="x").to_bytes()


def test_a_live_torch_module_is_exported_with_torch_onnx_export(imports, monkeypatch):
    """A torch.nn.Module goes through torch.onnx.export (the TorchScript
    exporter, dynamo=False) with example_input, batch and time axes dynamic;
    the stand-in torch here records the call and writes the fixture."""
    calls = []
    fake_torch = types.ModuleType("torch")
    fake_torch.onnx = types.SimpleNamespace()

    def export(module, args, path, **kw):
        calls.append((module, args, kw))
        with open(path, "wb") as f:
            f.write((imports / "torch_features.onnx").read_bytes())

    fake_torch.onnx.export = export
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    Module = type("Module", (), {"__module__": "torch.nn.modules.module", "eval": lambda self: self})
    Classifier = type("Classifier", (Module,), {"__module__": "__main__"})
    m = Classifier()
    with pytest.raises(TypeError, match="example_input"):
        edgegru.convert(m)
    got = edgegru.convert(m, example_input="x0", classes=["a", "b", "c", "d"], name="x")
    (module, args, kw), = calls
    assert module is m and args == ("x0",) and kw["dynamo"] is False and kw["opset_version"] == 14
    assert kw["dynamic_axes"]["input"] == {0: "batch", 1: "time"}
    assert got.to_bytes() == edgegru.convert(imports / "torch_features.onnx", classes=["a", "b", "c", "d"], name="x").to_bytes()


def test_what_cannot_be_converted_says_why(imports, tmp_path):
    with pytest.raises(edgegru.ConvertError, match="not a .keras archive"):
        edgegru.convert(b"PK\x03\x04 not a zip at all")
    with pytest.raises(edgegru.ConvertError):
        edgegru.convert(b"\x00\x01 not onnx")
    with pytest.raises(FileNotFoundError):
        edgegru.convert(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="cannot convert a int"):
        edgegru.convert(3)
    with pytest.raises(ValueError, match="weights"):
        edgegru.convert(imports / "torch_features.onnx", weights="int4")
    with pytest.raises(ValueError, match="for feature models"):
        edgegru.convert(imports / "keras_source.onnx", vocab=imports / "keras_source.vocab.json", fill="zero")
