"""edgegru.convert: a PyTorch or Keras model, as a file, bytes or a live
object, into an edgegru Model (the conversion `edgegru import` does)."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

from . import _edgegru

_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _sniff(data: bytes) -> str:
    """'keras' for a zip (.keras) or HDF5 (.h5) file, else 'onnx'."""
    if data[:2] == b"PK" or data[:8] == b"\x89HDF\r\n\x1a\n":
        return "keras"
    return "onnx"


def _is_keras_model(obj: Any) -> bool:
    module = type(obj).__module__ or ""
    return module.split(".")[0] in ("keras", "tensorflow", "tf_keras") and hasattr(obj, "save")


def _is_torch_module(obj: Any) -> bool:
    return any(c.__name__ == "Module" and c.__module__.startswith("torch.nn") for c in type(obj).__mro__)


def _torch_to_onnx(module: Any, example_input: Any, path: str, opset: int) -> None:
    """Exports a torch.nn.Module with torch.onnx.export (the TorchScript
    exporter: the graph edgegru imports), batch and time axes dynamic."""
    import torch  # noqa: F401 (the caller's own torch)

    kwargs = dict(
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch", 1: "time"}, "output": {0: "batch", 1: "time"}},
        opset_version=opset,
    )
    module = module.eval()
    try:
        torch.onnx.export(module, (example_input,), path, dynamo=False, **kwargs)
    except TypeError:  # torch before 2.5 has no dynamo= argument
        torch.onnx.export(module, (example_input,), path, **kwargs)


def _source_bytes(source: Any, example_input: Any, opset: int) -> "tuple[bytes, str, str]":
    """(bytes, kind, default name) of a path, bytes, Keras model or torch module."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), _sniff(bytes(source)), "model"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data = path.read_bytes()
        kind = "keras" if path.suffix.lower() in _KERAS_SUFFIXES else "onnx" if path.suffix.lower() == ".onnx" else _sniff(data)
        return data, kind, path.stem
    with tempfile.TemporaryDirectory(prefix="edgegru-convert-") as tmp:
        if _is_keras_model(source):
            path = os.path.join(tmp, "model.keras")
            source.save(path)
            return Path(path).read_bytes(), "keras", getattr(source, "name", None) or "model"
        if _is_torch_module(source):
            if example_input is None:
                raise TypeError("a torch.nn.Module needs example_input= (a tensor [batch, time, features] or [batch, time] of token ids)")
            path = os.path.join(tmp, "model.onnx")
            _torch_to_onnx(source, example_input, path, opset)
            return Path(path).read_bytes(), "onnx", type(source).__name__
    raise TypeError(
        f"cannot convert a {type(source).__name__}: give a path (.onnx, .keras, .h5), bytes, a Keras model or a torch.nn.Module"
    )


def _vocab_bytes(vocab: Any) -> Optional[bytes]:
    """A vocabulary as JSON bytes: a path, JSON text, bytes, a list of
    tokens in id order, a dict (Keras tokenizer JSON) or a Keras Tokenizer."""
    if vocab is None:
        return None
    if isinstance(vocab, (bytes, bytearray)):
        return bytes(vocab)
    if hasattr(vocab, "to_json") and callable(vocab.to_json):
        return vocab.to_json().encode()
    if isinstance(vocab, os.PathLike):
        return Path(vocab).read_bytes()
    if isinstance(vocab, str):
        if vocab.lstrip()[:1] in ("{", "["):
            return vocab.encode()
        return Path(vocab).read_bytes()
    if isinstance(vocab, dict):
        return json.dumps(vocab).encode()
    if isinstance(vocab, (list, tuple)) and all(isinstance(t, str) for t in vocab):
        return json.dumps(list(vocab)).encode()
    raise TypeError(f"vocab: give a path, JSON, a list of tokens or a Keras Tokenizer, not a {type(vocab).__name__}")


def convert(
    source: Any,
    *,
    vocab: Any = None,
    classes: Optional[Sequence[str]] = None,
    head: Optional[str] = None,
    weights: str = "int8",
    numerics: str = "hybrid",
    sparse: bool = False,
    layout: str = "portable",
    check_prompt: Optional[str] = None,
    feature_names: Optional[Sequence[str]] = None,
    fill: str = "refuse",
    input_range: float = 4.0,
    oov: Optional[str] = None,
    lower: bool = False,
    filters: Optional[str] = None,
    name: Optional[str] = None,
    example_input: Any = None,
    opset: int = 14,
) -> "_edgegru.Model":
    """Converts a GRU network trained with PyTorch or Keras into a Model.

    ``source``: a path (``.onnx``, ``.keras``, ``.h5``), the file's bytes,
    a live Keras model (saved to a temporary ``.keras`` file), or a live
    ``torch.nn.Module`` with ``example_input=`` (exported with
    ``torch.onnx.export``). ``vocab`` (token models): Keras'
    ``tokenizer.to_json()`` (or the Tokenizer itself, or a path to the
    JSON), or a list of tokens in id order (with ``oov``, ``lower`` and
    ``filters`` saying its rules). ``classes``: output names. ``weights``
    ``"int8"`` (``numerics="int"`` for integer-only), ``"f16"`` or
    ``"f32"``. The result's ``verification`` dict holds the import's check
    (the f32 import against the source graph, the written file against the
    f32 import). The same bytes as ``edgegru import`` writes with the same
    options.
    """
    data, kind, default_name = _source_bytes(source, example_input, opset)
    encoding = {"weights": weights, "sparse": sparse, "numerics": numerics, "layout": layout}
    return _edgegru.convert_bytes(
        data,
        kind,
        encoding,
        vocab=_vocab_bytes(vocab),
        oov=oov,
        lower=lower,
        filters=filters,
        classes=list(classes) if classes is not None else None,
        head=head,
        feature_names=list(feature_names) if feature_names is not None else None,
        fill=fill,
        input_range=input_range,
        check_prompt=check_prompt,
        name=name or default_name,
    )


__all__ = ["convert"]
