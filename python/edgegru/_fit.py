"""Training from Python: a classifier or regressor from numpy arrays, a
text model from a corpus, with progress shown as a bar (tqdm, when it is
installed and output goes to a terminal or a notebook) or given to your
callback. Ctrl-C stops at a step boundary and keeps what was trained."""

import os
import sys
import tempfile
from typing import Any, Callable, Dict, Optional, Union

from . import _edgegru

Progress = Union[str, bool, None, Callable[[Dict[str, Any]], None]]


class _Bar:
    """A tqdm bar fed with training events."""

    def __init__(self, tqdm: Any) -> None:
        self._tqdm = tqdm
        self._bar = None

    def __call__(self, event: Dict[str, Any]) -> None:
        if event["event"] == "step":
            if self._bar is None:
                self._bar = self._tqdm(total=event["total"], unit="step", initial=event["step"] - 1, desc="training")
            self._bar.update(event["step"] - self._bar.n)
            self._bar.set_postfix(loss=f"{event['loss']:.4f}", refresh=False)
        elif event["event"] == "record" and event.get("val_loss") is not None and self._bar is not None:
            self._bar.set_postfix(val_loss=f"{event['val_loss']:.4f}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _interactive() -> bool:
    return "ipykernel" in sys.modules or (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())


def _progress(progress: Progress) -> "tuple[Optional[Callable[[Dict[str, Any]], None]], Optional[_Bar]]":
    """The callback for `progress`: your callable, a tqdm bar (True, or
    "auto" in a terminal or notebook when tqdm is installed), or none."""
    if callable(progress):
        return progress, None
    if progress is None or progress is False:
        return None, None
    if progress not in ("auto", True):
        raise ValueError(f'progress must be "auto", True, False, None or a callable, not {progress!r}')
    try:
        from tqdm.auto import tqdm
    except ImportError:
        if progress is True:
            raise ImportError("progress=True needs tqdm (pip install tqdm); pass a callable to see events without it") from None
        return None, None
    if progress == "auto" and not _interactive():
        return None, None
    bar = _Bar(tqdm)
    return bar, bar


def _run_dir(out: Optional[Union[str, os.PathLike]]) -> "tuple[str, bool]":
    if out is not None:
        return os.fspath(out), False
    return tempfile.mkdtemp(prefix="edgegru-run-"), True


_WHOLE = ("hidden", "layers", "dense", "epochs", "steps", "batch", "seed", "threads", "patience", "emb", "seq_len")


def _settings(**kw: Any) -> Dict[str, Any]:
    """The run's settings, each checked (a clear ValueError, not a failed conversion)."""
    for name in _WHOLE:
        v = kw[name]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must be a whole number >= 0, not {v!r}")
    lr = kw["lr"]
    if not isinstance(lr, (int, float)) or not (0 < lr < float("inf")):
        raise ValueError(f"lr must be a positive number, not {lr!r}")
    if not isinstance(kw["val_split"], (int, float)) or not 0 <= kw["val_split"] < 1:
        raise ValueError(f"val_split must be in [0, 1), not {kw['val_split']!r}")
    return kw


def _fit_sequences(task: str, X: Any, y: Any, X_val: Any, y_val: Any, out: Any, overwrite: bool, progress: Progress, settings: Dict[str, Any]) -> "_edgegru.Trained":
    callback, bar = _progress(progress)
    run_dir, temporary = _run_dir(out)
    try:
        return _edgegru.fit_sequences(task, X, y, X_val, y_val, settings, run_dir, temporary=temporary, overwrite=overwrite, progress=callback)
    except BaseException:
        if temporary:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()


def fit_classifier(
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
    *,
    hidden: int = 32,
    layers: int = 1,
    dense: int = 0,
    epochs: Optional[int] = 50,
    steps: Optional[int] = None,
    batch: int = 16,
    lr: float = 2e-3,
    seed: int = 1,
    device: str = "cpu",
    threads: int = 0,
    patience: Optional[int] = None,
    val_split: float = 0.1,
    fill: str = "refuse",
    out: Optional[Union[str, os.PathLike]] = None,
    overwrite: bool = False,
    progress: Progress = "auto",
) -> "_edgegru.Trained":
    """Trains a GRU sequence classifier on float32 arrays.

    ``X``: ``[n, steps, features]`` or a list of ``[steps_i, features]``;
    ``y``: one class label per sequence (str, or int read as its name).
    Validation on ``X_val, y_val``, else a stratified ``val_split`` of the
    training data. The run trains ``layers`` GRU layers of ``hidden`` units
    (then a relu layer of ``dense`` units when ``dense > 0``) for
    ``epochs`` (or ``steps``) with Adam at ``lr``; ``patience`` stops after
    that many validations without improvement. ``fill``: what a missing
    value (NaN) becomes, in training and on the device (``"refuse"``,
    ``"zero"``, ``"mean"``, ``"previous"``). ``device="cuda"`` trains on an
    NVIDIA GPU. The run folder ``out`` (a temporary one by default, removed
    with the result) holds the checkpoints, the history and the data as
    ``.ts`` files: ``edgegru train --task classify --data OUT/data/train.ts
    --val-data OUT/data/val.ts`` with the same settings trains the same
    weights. ``progress``: a tqdm bar (``"auto"``: in a terminal or
    notebook, when tqdm is installed), ``None``, or a callable given each
    event as a dict. Ctrl-C stops at a step boundary, keeping what was
    trained (with a warning). Returns a ``Trained``.
    """
    settings = _settings(hidden=hidden, layers=layers, dense=dense, epochs=epochs, steps=steps, batch=batch, lr=lr, seed=seed,
                         device=device, threads=threads, patience=patience, val_split=val_split, fill=fill, emb=64, seq_len=100,
                         tokenizer="char")
    return _fit_sequences("classify", X, y, X_val, y_val, out, overwrite, progress, settings)


def fit_regressor(
    X: Any,
    y: Any,
    X_val: Any = None,
    y_val: Any = None,
    *,
    hidden: int = 32,
    layers: int = 1,
    dense: int = 0,
    epochs: Optional[int] = 50,
    steps: Optional[int] = None,
    batch: int = 16,
    lr: float = 2e-3,
    seed: int = 1,
    device: str = "cpu",
    threads: int = 0,
    patience: Optional[int] = None,
    val_split: float = 0.1,
    fill: str = "refuse",
    out: Optional[Union[str, os.PathLike]] = None,
    overwrite: bool = False,
    progress: Progress = "auto",
) -> "_edgegru.Trained":
    """Trains a GRU sequence regressor on float32 arrays: ``y`` one target
    value per sequence. Otherwise as ``fit_classifier`` (the command line's
    ``--task regress``)."""
    settings = _settings(hidden=hidden, layers=layers, dense=dense, epochs=epochs, steps=steps, batch=batch, lr=lr, seed=seed,
                         device=device, threads=threads, patience=patience, val_split=val_split, fill=fill, emb=64, seq_len=100,
                         tokenizer="char")
    return _fit_sequences("regress", X, y, X_val, y_val, out, overwrite, progress, settings)


def fit_text(
    corpus: Union[str, os.PathLike],
    *,
    tokenizer: str = "char",
    emb: int = 64,
    hidden: int = 256,
    layers: int = 1,
    dense: int = 256,
    seq_len: int = 100,
    batch: int = 64,
    epochs: Optional[int] = None,
    steps: Optional[int] = None,
    lr: float = 2e-3,
    seed: int = 1,
    device: str = "cpu",
    threads: int = 0,
    patience: Optional[int] = None,
    val_split: float = 0.1,
    out: Optional[Union[str, os.PathLike]] = None,
    overwrite: bool = False,
    progress: Progress = "auto",
) -> "_edgegru.Trained":
    """Trains a text model (next character or word). ``corpus``: a path to
    a text file or folder (``os.PathLike``, or a ``str`` naming an existing
    path), or the text itself (a ``str`` that is not a path; one that looks
    like a path -- one line ending in ``.txt`` -- but does not exist is a
    ``FileNotFoundError``). The defaults are the command line's
    (``edgegru train --corpus``); give ``epochs`` or ``steps``. Otherwise
    as ``fit_classifier``."""
    path, text = None, None
    if isinstance(corpus, os.PathLike) or (isinstance(corpus, str) and "\n" not in corpus and os.path.exists(corpus)):
        path = os.fspath(corpus)
    elif isinstance(corpus, str):
        if "\n" not in corpus and corpus.endswith(".txt"):
            raise FileNotFoundError(f"{corpus} does not exist (pass the text itself, or an existing path)")
        text = corpus
    else:
        raise TypeError(f"corpus must be a path or a str, not {type(corpus).__name__}")
    settings = _settings(hidden=hidden, layers=layers, dense=dense, epochs=epochs, steps=steps, batch=batch, lr=lr, seed=seed,
                         device=device, threads=threads, patience=patience, val_split=val_split, fill="refuse", emb=emb,
                         seq_len=seq_len, tokenizer=tokenizer)
    callback, bar = _progress(progress)
    run_dir, temporary = _run_dir(out)
    try:
        return _edgegru.fit_text(path, text, settings, run_dir, temporary=temporary, overwrite=overwrite, progress=callback)
    except BaseException:
        if temporary:
            import shutil

            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()


__all__ = ["fit_classifier", "fit_regressor", "fit_text"]
