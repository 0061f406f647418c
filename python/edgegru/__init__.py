"""edgegru for Python: GRU networks for microcontrollers.

Load a model file or a built-in model, convert a PyTorch or Keras model,
train one from numpy arrays or text, and check what the device will
compute -- bit for bit the numbers of the C library and the Cortex-M
firmware, because the same Rust runtime computes them::

    import edgegru, numpy as np
    model = edgegru.load("basicmotions")          # or a path to an .egru file
    probs = model.predict(X)                      # X: float32 [n, steps, features]
    print(model.evaluate(X, y)["accuracy"])

    trained = edgegru.fit_classifier(X, y, X_val, y_val, hidden=32, epochs=100)
    device_model = trained.export(weights="int8", numerics="int")
    device_model.save("gesture.egru")

    keras_model = edgegru.convert("lm.keras", vocab="tokenizer.json")
    print(keras_model.verification)

Errors are Python exceptions: ``TypeError`` and ``ValueError`` for
arguments, ``FileNotFoundError`` for missing files, and the
``edgegru.Error`` family (``ModelError``, ``DataError``, ``ConvertError``,
``TrainingError``; each a ``ValueError``) carrying the library's message.
Long work (predict, evaluate, convert, training) releases the GIL.
"""

from ._edgegru import (
    ConvertError,
    DataError,
    Error,
    Model,
    ModelError,
    Session,
    Trained,
    TrainingError,
    __version__,
    builtin_models,
    load,
    read_sequences,
)
from ._convert import convert
from ._fit import fit_classifier, fit_regressor, fit_text

__all__ = [
    "ConvertError",
    "DataError",
    "Error",
    "Model",
    "ModelError",
    "Session",
    "Trained",
    "TrainingError",
    "__version__",
    "builtin_models",
    "convert",
    "fit_classifier",
    "fit_regressor",
    "fit_text",
    "load",
    "read_sequences",
]
