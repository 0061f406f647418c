"""Type stubs of edgegru."""

import os
from typing import Any, Callable, Dict, Optional, Sequence, Union

from ._edgegru import (
    ConvertError as ConvertError,
    DataError as DataError,
    Error as Error,
    Model as Model,
    ModelError as ModelError,
    Session as Session,
    Trained as Trained,
    TrainingError as TrainingError,
    __version__ as __version__,
    builtin_models as builtin_models,
    load as load,
    read_sequences as read_sequences,
)
from ._edgegru import Features, Labels

Progress = Union[str, bool, None, Callable[[Dict[str, Any]], None]]

def convert(source: Any, *, vocab: Any = ..., classes: Optional[Sequence[str]] = ..., head: Optional[str] = ..., weights: str = ...,
            numerics: str = ..., sparse: bool = ..., layout: str = ..., check_prompt: Optional[str] = ...,
            feature_names: Optional[Sequence[str]] = ..., fill: str = ..., input_range: float = ..., oov: Optional[str] = ...,
            lower: bool = ..., filters: Optional[str] = ..., name: Optional[str] = ..., example_input: Any = ...,
            opset: int = ...) -> Model:
    """Converts a PyTorch or Keras model (path, bytes, live object) into a Model."""

def fit_classifier(X: Features, y: Labels, X_val: Optional[Features] = ..., y_val: Optional[Labels] = ..., *, hidden: int = ...,
                   layers: int = ..., dense: int = ..., epochs: Optional[int] = ..., steps: Optional[int] = ..., batch: int = ...,
                   lr: float = ..., seed: int = ..., device: str = ..., threads: int = ..., patience: Optional[int] = ...,
                   val_split: float = ..., fill: str = ..., out: Optional[Union[str, os.PathLike]] = ..., overwrite: bool = ...,
                   progress: Progress = ...) -> Trained:
    """Trains a GRU sequence classifier on float32 arrays."""

def fit_regressor(X: Features, y: Any, X_val: Optional[Features] = ..., y_val: Any = ..., *, hidden: int = ..., layers: int = ...,
                  dense: int = ..., epochs: Optional[int] = ..., steps: Optional[int] = ..., batch: int = ..., lr: float = ...,
                  seed: int = ..., device: str = ..., threads: int = ..., patience: Optional[int] = ..., val_split: float = ...,
                  fill: str = ..., out: Optional[Union[str, os.PathLike]] = ..., overwrite: bool = ...,
                  progress: Progress = ...) -> Trained:
    """Trains a GRU sequence regressor on float32 arrays."""

def fit_text(corpus: Union[str, os.PathLike], *, tokenizer: str = ..., emb: int = ..., hidden: int = ..., layers: int = ...,
             dense: int = ..., seq_len: int = ..., batch: int = ..., epochs: Optional[int] = ..., steps: Optional[int] = ...,
             lr: float = ..., seed: int = ..., device: str = ..., threads: int = ..., patience: Optional[int] = ...,
             val_split: float = ..., out: Optional[Union[str, os.PathLike]] = ..., overwrite: bool = ...,
             progress: Progress = ...) -> Trained:
    """Trains a text model on a corpus path or a text."""
