"""Type stubs of the extension module edgegru._edgegru (re-exported by edgegru)."""

import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, os.PathLike]
Features = Union[npt.NDArray[np.float32], Sequence[npt.NDArray[np.float32]]]
Labels = Union[Sequence[str], Sequence[int], npt.NDArray[Any]]

class Error(ValueError):
    """Base of edgegru's errors; the message is the library's, with its causes."""

class ModelError(Error):
    """A model file that cannot be used: corrupt, truncated, of another format, or not the kind asked for."""

class DataError(Error):
    """Data a model or a training run cannot take: wrong sizes, refused missing values, unknown labels or tokens."""

class ConvertError(Error):
    """A PyTorch or Keras model that cannot be converted."""

class TrainingError(Error):
    """A training run that cannot start or go on."""

def load(path_or_name: PathLike) -> Model:
    """Loads an .egru file, or a built-in model by name (see builtin_models())."""

def builtin_models() -> List[str]:
    """The names of the models built into the package."""

def read_sequences(
    path: PathLike, *, label_column: Optional[str] = None, id_column: Optional[str] = None, time_column: Optional[str] = None
) -> Tuple[Features, Union[List[str], npt.NDArray[np.float32], None]]:
    """Reads a .ts or CSV file of sequences: (X, y)."""

def convert_bytes(source: bytes, kind: str, encoding: Dict[str, Any], **options: Any) -> Model:
    """The conversion behind edgegru.convert (use that)."""

def fit_sequences(task: str, x: Features, y: Labels, x_val: Optional[Features], y_val: Optional[Labels], settings: Dict[str, Any],
                  place: Dict[str, Any], progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Trained:
    """The training behind edgegru.fit_classifier and fit_regressor (use those)."""

def fit_text(corpus: Optional[PathLike], text: Optional[str], settings: Dict[str, Any], place: Dict[str, Any],
             progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Trained:
    """The training behind edgegru.fit_text (use that)."""

class Model:
    """A model file (.egru) in memory."""

    @staticmethod
    def from_bytes(data: Union[bytes, bytearray]) -> Model:
        """A model from the bytes of an .egru file (checked as the device checks them)."""
    @property
    def info(self) -> Dict[str, Any]:
        """Input, layers, head, tokenizer, numerics, sizes (arena_bytes, state_bytes, file_bytes)."""
    @property
    def verification(self) -> Optional[Dict[str, Any]]:
        """For a converted model: the conversion's check; else None."""
    def to_bytes(self) -> bytes:
        """The .egru file's bytes."""
    def __bytes__(self) -> bytes: ...
    def save(self, path: PathLike, *, overwrite: bool = False) -> None:
        """Writes the .egru file (an existing file only with overwrite=True)."""
    def to_onnx(self, path: PathLike, *, weights: str = "f32", overwrite: bool = False) -> None:
        """Writes the ONNX step graph: weights "f32" (dequantized) or "int8" (QDQ)."""
    def to_c(self, path: PathLike, name: str, *, overwrite: bool = False) -> None:
        """Writes the model as C source (path and the .h beside it): the array `name` and its sizes as macros."""
    def with_layout(self, layout: str) -> Model:
        """The same model in the "portable" or "arm-dsp" layout (the same output bits)."""
    def session(self, *, backend: str = "native") -> Session:
        """A session: "native" (the device's runtime), "tract" or "ort" (the float ONNX step graph)."""
    def predict(self, x: Features, *, per_step: bool = False, backend: str = "native") -> Union[npt.NDArray[np.float32], List[npt.NDArray[np.float32]]]:
        """Outputs at each sequence's last step [n, outputs], or every step's with per_step=True."""
    def evaluate(self, data: Union[Features, str], y: Optional[Labels] = None, *, val_split: float = 1.0,
                 skip_unknown: bool = False) -> Dict[str, Any]:
        """Classifier/regressor: evaluate(X, y); text model: evaluate(text)."""

class Session:
    """One stream through a model, step by step."""

    @property
    def hidden(self) -> npt.NDArray[np.float32]:
        """The last GRU layer's state (a copy)."""
    @property
    def state_size(self) -> int:
        """Bytes of a saved state."""
    @property
    def backend(self) -> str:
        """"native", "tract" or "ort"."""
    def step(self, token: int) -> npt.NDArray[np.float32]:
        """Feeds a token id; returns the next-token logits."""
    def step_features(self, x: Union[npt.NDArray[np.float32], Sequence[float]]) -> npt.NDArray[np.float32]:
        """Feeds one step's features; returns the outputs."""
    def feed(self, text: str) -> int:
        """Feeds text; returns the number of tokens fed."""
    def top_k(self, k: int, *, allow_oov: bool = False) -> List[Tuple[str, float]]:
        """The k most likely next tokens, (text, probability), most likely first."""
    def generate(self, prompt: str = "", max_tokens: int = 100, *, temperature: float = 0.8, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 1, allow_oov: bool = False) -> str:
        """Feeds the prompt and generates up to max_tokens tokens; returns them as text."""
    def reset(self) -> None:
        """Back to the initial state."""
    def save_state(self) -> bytes:
        """The recurrent state and last outputs."""
    def restore_state(self, state: Union[bytes, bytearray]) -> None:
        """Restores a state saved from a session of the same model."""

class Trained:
    """A trained network and its run folder."""

    @property
    def run_dir(self) -> str:
        """The run folder (checkpoints, history, data)."""
    @property
    def steps(self) -> int:
        """Optimizer steps taken."""
    @property
    def ending(self) -> str:
        """"finished", "stopped early" or "interrupted"."""
    @property
    def best(self) -> Optional[Tuple[int, float]]:
        """(step, val_loss) of the best validation."""
    @property
    def history(self) -> Dict[str, List[Optional[float]]]:
        """history.csv's columns as lists."""
    def checkpoint(self, path: PathLike, *, which: str = "best", overwrite: bool = False) -> None:
        """Saves the best (or last) checkpoint as a run folder for the command line."""
    def export(self, *, weights: str = "int8", numerics: str = "hybrid", sparse: bool = False, layout: str = "portable",
               which: str = "best", name: str = "model", prune_to: Optional[float] = None, prune_steps: Optional[int] = None,
               progress: Optional[Callable[[Dict[str, Any]], None]] = None) -> Model:
        """The network as a Model (optionally pruned to a block sparsity first)."""
