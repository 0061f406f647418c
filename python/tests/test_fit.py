"""Training from arrays and text: the history, the export, the same
weights as the command line, progress events, Ctrl-C keeping the run."""

import csv
import os
import signal

import numpy as np
import pytest

import edgegru
from conftest import run_cli

SMALL = dict(hidden=16, dense=0, batch=8, epochs=3, lr=0.002, seed=5, threads=1)


@pytest.fixture(scope="module")
def motions(ucr):
    X, y = edgegru.read_sequences(ucr / "BasicMotions/BasicMotions_TRAIN.ts")
    Xt, yt = edgegru.read_sequences(ucr / "BasicMotions/BasicMotions_TEST.ts")
    return X, y, Xt, yt


def test_fit_classifier_trains_exports_and_evaluates(motions, tmp_path):
    X, y, Xt, yt = motions
    events = []
    trained = edgegru.fit_classifier(X, y, Xt, yt, **{**SMALL, "epochs": 30}, out=tmp_path / "run", progress=events.append)
    assert trained.ending == "finished" and trained.steps == 30 * 5
    assert events[0]["event"] == "start" and sum(e["event"] == "step" for e in events) == trained.steps
    with open(tmp_path / "run/history.csv") as f:
        header = next(csv.reader(f))
    history = trained.history
    assert sorted(history) == sorted(header) and len(history["step"]) > 0
    model = trained.export(weights="int8", numerics="int")
    assert model.info["numerics"] == "integer" and model.info["output_names"] == sorted(set(y))
    report = model.evaluate(Xt, yt)
    assert report["accuracy"] > 0.5, report


def test_the_same_seed_trains_the_same_weights_as_the_command_line(motions, cli, tmp_path):
    X, y, Xt, yt = motions
    trained = edgegru.fit_classifier(X, y, Xt, yt, **SMALL, out=tmp_path / "py", progress=None)
    data = tmp_path / "py/data"
    run_cli(cli, "train", "--task", "classify", "--data", data / "train.ts", "--val-data", data / "val.ts", "--out", tmp_path / "cli",
            "--hidden", 16, "--dense", 0, "--batch", 8, "--epochs", 3, "--lr", 0.002, "--seed", 5, "--threads", 1)
    run_cli(cli, "export", "--checkpoint", tmp_path / "cli", "--weights", "f32", "--out", tmp_path / "m.egru")
    assert trained.export(weights="f32", name="m").to_bytes() == (tmp_path / "m.egru").read_bytes()


def test_a_saved_checkpoint_is_what_the_command_line_exports(motions, cli, tmp_path):
    X, y, _, _ = motions
    trained = edgegru.fit_classifier(X, y, **SMALL, progress=None)
    run_dir = trained.run_dir
    trained.checkpoint(tmp_path / "ck")
    with pytest.raises(edgegru.TrainingError):
        trained.checkpoint(tmp_path / "ck")
    run_cli(cli, "export", "--checkpoint", tmp_path / "ck", "--weights", "int8", "--out", tmp_path / "m.egru")
    assert trained.export(name="m").to_bytes() == (tmp_path / "m.egru").read_bytes()
    del trained
    assert not os.path.exists(run_dir), "a temporary run folder goes with its result"


def test_ctrl_c_stops_at_a_step_and_keeps_what_was_trained(motions):
    X, y, _, _ = motions

    def interrupt(event):
        if event["event"] == "step" and event["step"] == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.warns(UserWarning, match="interrupted at step"):
        trained = edgegru.fit_classifier(X, y, **{**SMALL, "epochs": 100}, progress=interrupt)
    assert trained.ending == "interrupted" and 3 <= trained.steps < 10
    assert trained.export(which="last").predict(X[:2]).shape == (2, 4)


def test_an_exception_in_the_callback_stops_the_run_and_is_raised(motions):
    X, y, _, _ = motions

    def fail(event):
        if event["event"] == "step":
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        edgegru.fit_classifier(X, y, **SMALL, progress=fail)


def test_fit_regressor_and_pruned_export(tmp_path):
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(4, 9)), 3)).astype(np.float32) for _ in range(40)]
    y = np.array([x[:, 1].mean() for x in X], dtype=np.float32)
    trained = edgegru.fit_regressor(X, y, hidden=16, epochs=5, batch=8, threads=1, progress=None)
    model = trained.export(weights="int8", prune_to=0.5, prune_steps=20)
    assert model.info["head"] == "regression" and model.info["weights"] == ["int8-block8x4"]
    assert model.predict(X).shape == (40, 1)


def test_fit_text_from_a_string_and_from_a_path(tmp_path, cli):
    text = "the quick brown fox jumps over the lazy dog. " * 60
    trained = edgegru.fit_text(text, emb=8, hidden=16, dense=8, seq_len=16, batch=4, steps=10, threads=1, progress=None)
    model = trained.export(weights="f32")
    assert model.info["tokenizer"] == "char" and trained.steps == 10
    assert isinstance(model.session().generate("the ", 10, temperature=0), str)
    (tmp_path / "c.txt").write_text(text)
    from_path = edgegru.fit_text(str(tmp_path / "c.txt"), emb=8, hidden=16, dense=8, seq_len=16, batch=4, steps=10, threads=1,
                                 progress=None)
    assert from_path.steps == 10
    with pytest.raises(FileNotFoundError):
        edgegru.fit_text(str(tmp_path / "missing.txt"), steps=1)


def test_progress_true_draws_a_tqdm_bar(motions, capsys):
    import tqdm  # noqa: F401

    X, y, _, _ = motions
    trained = edgegru.fit_classifier(X, y, **SMALL, progress=True)
    err = capsys.readouterr().err
    assert "training" in err and f"{trained.steps}/{trained.steps}" in err and "100%" in err, err[-500:]


def test_cuda_trains_where_a_gpu_is_and_is_refused_clearly_where_none_is(motions):
    import shutil
    import subprocess

    X, y, _, _ = motions
    gpu = shutil.which("nvidia-smi") is not None and subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode == 0
    if gpu:
        assert edgegru.fit_classifier(X, y, **SMALL, device="cuda", progress=None).ending == "finished"
    else:
        with pytest.raises(edgegru.TrainingError, match="CUDA|GPU|driver|cuda"):
            edgegru.fit_classifier(X, y, **SMALL, device="cuda", progress=None)
