"""Training from Python: a classifier or regressor from numpy arrays, a
text model from a corpus, with progress shown as a bar (tqdm, when it is
installed and output goes to a terminal or a notebook) or given to your
callback. Ctrl-C stops at a step boundary and keeps what was trained."""

import os
import shutil
import sys
import tempfile
from typing import Any, Callable, Dict, Optional, Union

from . import _edgegru

Progress = Union[str, bool, None, Callable[[Dict[str, Any]], None]]

# The sequence models' defaults (the command line's are a text model's).
SEQUENCE_DEFAULTS: Dict[str, Any] = dict(hidden=32, layers=1, dense=0, epochs=50, steps=None, batch=16, lr=2e-3, seed=1, device="cpu",
                                         threads=0, patience=None, val_split=0.1, fill="refuse")
# fit_text's defaults: the command line's (`edgegru train --corpus`).
TEXT_DEFAULTS: Dict[str, Any] = dict(tokenizer="char", emb=64, hidden=256, layers=1, dense=256, seq_len=100, batch=64, epochs=None,
                                     steps=None, lr=2e-3, seed=1, device="cpu", threads=0, patience=None, val_split=0.1)
_WHOLE = ("hidden", "layers", "dense", "epochs", "steps", "batch", "seed", "threads", "patience", "emb", "seq_len")


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


def _settings(defaults: Dict[str, Any], options: Dict[str, Any]) -> "tuple[Dict[str, Any], Dict[str, Any]]":
    """(the run's settings, the run's place and progress) from keyword
    options over `defaults`; each setting is checked (a clear ValueError)."""
    place = {"out": options.pop("out", None), "overwrite": options.pop("overwrite", False), "progress": options.pop("progress", "auto")}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError(f"unexpected option(s) {', '.join(unknown)}; the options are {', '.join(sorted(defaults))}, out, overwrite, progress")
    kw = {**defaults, **options}
    for name in _WHOLE:
        v = kw.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"{name} must be a whole number >= 0, not {v!r}")
    if not isinstance(kw["lr"], (int, float)) or not (0 < kw["lr"] < float("inf")):
        raise ValueError(f"lr must be a positive number, not {kw['lr']!r}")
    if not isinstance(kw["val_split"], (int, float)) or not 0 <= kw["val_split"] < 1:
        raise ValueError(f"val_split must be in [0, 1), not {kw['val_split']!r}")
    # The library's settings carry every field; the ones a task does not use keep the text defaults.
    return {"fill": "refuse", **{k: TEXT_DEFAULTS[k] for k in ("tokenizer", "emb", "seq_len")}, **kw}, place


def _train(place: Dict[str, Any], call: Callable[..., Any]) -> "_edgegru.Trained":
    """Runs `call(place, progress)` in the run folder (a temporary one when
    `out` is None, removed if the call fails), with the progress display."""
    callback, bar = _progress(place["progress"])
    temporary = place["out"] is None
    out = tempfile.mkdtemp(prefix="edgegru-run-") if temporary else os.fspath(place["out"])
    try:
        return call({"out": out, "temporary": temporary, "overwrite": place["overwrite"]}, callback)
    except BaseException:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if bar is not None:
            bar.close()


def _fit_sequences(task: str, X: Any, y: Any, X_val: Any, y_val: Any, options: Dict[str, Any]) -> "_edgegru.Trained":
    settings, place = _settings(SEQUENCE_DEFAULTS, options)
    return _train(place, lambda p, cb: _edgegru.fit_sequences(task, X, y, X_val, y_val, settings, p, progress=cb))


def fit_classifier(X: Any, y: Any, X_val: Any = None, y_val: Any = None, **options: Any) -> "_edgegru.Trained":
    """Trains a GRU sequence classifier on float32 arrays; returns a ``Trained``.

    ``X``: ``[n, steps, features]`` or a list of ``[steps_i, features]``;
    ``y``: one class label per sequence (str, or int read as its name).
    Validation on ``X_val, y_val``, else a stratified ``val_split`` of the
    training data.

    Options (defaults in brackets): ``hidden`` [32] units in each of
    ``layers`` [1] GRU layers, then a relu layer of ``dense`` [0: none]
    units; ``epochs`` [50] or ``steps`` [None] of Adam at ``lr`` [2e-3] on
    batches of ``batch`` [16]; ``seed`` [1]; ``patience`` [None]
    validations without improvement before stopping; ``val_split`` [0.1];
    ``fill`` ["refuse"]: what a missing value (NaN) becomes, in training
    and on the device ("zero", "mean", "previous"); ``device`` ["cpu"] or
    "cuda"; ``threads`` [0: all cores].

    ``out``: the run folder (checkpoints, history, the data as ``.ts``
    files: ``edgegru train --task classify --data OUT/data/train.ts
    --val-data OUT/data/val.ts`` with the same settings trains the same
    weights); without it a temporary folder, removed with the result.
    ``overwrite=True`` replaces a run already in ``out``. ``progress``:
    "auto" (a tqdm bar in a terminal or notebook, when tqdm is installed),
    True (a bar), None, or a callable given each event as a dict. Ctrl-C
    stops at a step boundary, keeping what was trained (with a warning).
    """
    return _fit_sequences("classify", X, y, X_val, y_val, options)


def fit_regressor(X: Any, y: Any, X_val: Any = None, y_val: Any = None, **options: Any) -> "_edgegru.Trained":
    """Trains a GRU sequence regressor on float32 arrays: ``y`` one target
    value per sequence; the options are ``fit_classifier``'s (the command
    line's ``--task regress``). Returns a ``Trained``."""
    return _fit_sequences("regress", X, y, X_val, y_val, options)


def fit_text(corpus: Union[str, os.PathLike], **options: Any) -> "_edgegru.Trained":
    """Trains a text model (next character or word); returns a ``Trained``.

    ``corpus``: a path to a text file or folder (``os.PathLike``, or a
    ``str`` naming an existing path), or the text itself (a ``str`` that is
    not a path; one that looks like a path -- one line ending in ``.txt``
    -- but does not exist is a ``FileNotFoundError``). Options: the command
    line's, with its defaults: ``tokenizer`` ["char"] or "word", ``emb``
    [64], ``hidden`` [256], ``layers`` [1], ``dense`` [256], ``seq_len``
    [100], ``batch`` [64], ``epochs`` or ``steps`` (one is needed),
    ``lr`` [2e-3], ``seed`` [1], ``patience``, ``val_split`` [0.1],
    ``device``, ``threads``; ``out``, ``overwrite`` and ``progress`` as
    for ``fit_classifier``."""
    path, text = None, None
    if isinstance(corpus, os.PathLike) or (isinstance(corpus, str) and "\n" not in corpus and os.path.exists(corpus)):
        path = os.fspath(corpus)
    elif isinstance(corpus, str):
        if "\n" not in corpus and corpus.endswith(".txt"):
            raise FileNotFoundError(f"{corpus} does not exist (pass the text itself, or an existing path)")
        text = corpus
    else:
        raise TypeError(f"corpus must be a path or a str, not {type(corpus).__name__}")
    settings, place = _settings(TEXT_DEFAULTS, options)
    return _train(place, lambda p, cb: _edgegru.fit_text(path, text, settings, p, progress=cb))


__all__ = ["fit_classifier", "fit_regressor", "fit_text"]
