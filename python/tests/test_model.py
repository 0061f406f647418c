"""Models and sessions: the numbers are the device's (the command line's
`predict --exact` and the C library's, bit for bit), files round-trip,
sessions step, sample and keep states."""

import ctypes
import threading
import time

import numpy as np
import pytest

import edgegru
from conftest import exact_bits, hex_bits, run_cli


@pytest.mark.parametrize("name,data", [("basicmotions", "BasicMotions"), ("japanesevowels", "JapaneseVowels")])
def test_predict_equals_the_command_lines_exact_bits_on_the_shipped_classifiers(cli, ucr, name, data):
    test = ucr / data / f"{data}_TEST.ts"
    X, _ = edgegru.read_sequences(test)
    model = edgegru.load(name)
    per_step = model.predict(X, per_step=True)
    want = exact_bits(run_cli(cli, "predict", "--model", name, "--data", test, "--exact"))
    got = {}
    for i, steps in enumerate(per_step):
        for t, out in enumerate(steps):
            got[(i, t)] = hex_bits(out)
    assert got == want
    last = model.predict(X)
    assert [hex_bits(row) for row in last] == [hex_bits(s[-1]) for s in per_step]


class _CLibrary:
    """The C library (libedgegru.so) through ctypes: a model and a session
    in caller memory, stepping feature vectors."""

    def __init__(self, path, model_bytes):
        self.lib = ctypes.CDLL(str(path))
        self.bytes = ctypes.create_string_buffer(model_bytes, len(model_bytes))
        self.model = ctypes.create_string_buffer(256 * 8)
        self.session = ctypes.create_string_buffer(48 * 8)
        assert self.lib.egru_model_init(self.model, self.bytes, ctypes.c_size_t(len(model_bytes))) == 0
        size = ctypes.c_size_t()
        assert self.lib.egru_model_arena_size(self.model, ctypes.byref(size)) == 0
        self.arena = ctypes.create_string_buffer(size.value)
        assert self.lib.egru_session_init(self.session, self.model, self.arena, ctypes.c_size_t(size.value)) == 0

    def run(self, series, outputs):
        assert self.lib.egru_session_reset(self.session) == 0
        out = (ctypes.c_float * outputs)()
        for step in np.ascontiguousarray(series, dtype=np.float32):
            x = step.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            assert self.lib.egru_session_step_features(self.session, x, ctypes.c_size_t(len(step)), out, ctypes.c_size_t(outputs)) == 0
        return np.frombuffer(out, dtype=np.float32).copy()


@pytest.mark.parametrize("name,data", [("basicmotions", "BasicMotions"), ("japanesevowels", "JapaneseVowels")])
def test_predict_equals_the_c_library_bit_for_bit(clib, ucr, name, data):
    X, _ = edgegru.read_sequences(ucr / data / f"{data}_TEST.ts")
    model = edgegru.load(name)
    c = _CLibrary(clib, model.to_bytes())
    got = model.predict(X)
    outputs = model.info["outputs"]
    for i, series in enumerate(X):
        assert hex_bits(got[i]) == hex_bits(c.run(series, outputs)), f"sequence {i}"


def test_evaluate_equals_the_command_lines_eval(cli, ucr):
    import json

    test = ucr / "BasicMotions/BasicMotions_TEST.ts"
    X, y = edgegru.read_sequences(test)
    got = edgegru.load("basicmotions").evaluate(X, y)
    want = json.loads(run_cli(cli, "eval", "--model", "basicmotions", "--data", test, "--json"))
    for key in ("accuracy", "precision", "recall", "f1", "confusion", "classes"):
        assert got[key] == want[key], key


def test_a_regressor_evaluates_rmse_mae_r2(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(24, 6, 2)).astype(np.float32)
    y = X[:, :, 0].sum(axis=1)
    trained = edgegru.fit_regressor(X, y, hidden=8, epochs=3, batch=8, threads=1, progress=None)
    report = trained.export(weights="f32").evaluate(X, y)
    assert set(report) >= {"rmse", "mae", "r2", "sequences"} and report["sequences"] == 24
    assert report["rmse"] >= report["mae"] >= 0


def test_a_text_model_evaluates_loss_and_perplexity():
    report = edgegru.load("tiny").evaluate("The meaning of life is a question that many people ask.")
    assert report["tokens"] > 10 and report["perplexity"] == pytest.approx(np.exp(report["loss"]))


def test_files_round_trip_and_are_never_overwritten_silently(tmp_path):
    model = edgegru.load("basicmotions")
    path = tmp_path / "m.egru"
    model.save(path)
    assert edgegru.load(path).to_bytes() == model.to_bytes() == bytes(edgegru.Model.from_bytes(path.read_bytes()))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(path)
    edgegru.load("tiny").save(path, overwrite=True)
    assert edgegru.load(path).info["input"] == "tokens"


def test_to_c_writes_what_edgegru_export_format_c_writes(cli, tmp_path):
    edgegru.load("basicmotions").to_c(tmp_path / "py/gesture.c", "gesture")
    run_cli(cli, "export", "--model", "basicmotions", "--format", "c", "--name", "gesture", "--out", tmp_path / "cli/gesture.c")
    for f in ("gesture.c", "gesture.h"):
        assert (tmp_path / "py" / f).read_text() == (tmp_path / "cli" / f).read_text()
    assert "#define GESTURE_ARENA_SIZE 1055u" in (tmp_path / "py/gesture.h").read_text()
    with pytest.raises(FileExistsError):
        edgegru.load("basicmotions").to_c(tmp_path / "py/gesture.c", "gesture")
    with pytest.raises(ValueError, match="not a C identifier"):
        edgegru.load("basicmotions").to_c(tmp_path / "x.c", "3d-model")


def test_info_says_what_the_device_needs():
    info = edgegru.load("tiny").info
    assert info["input"] == "tokens" and info["tokenizer"] == "char" and info["head"] == "next-token"
    assert info["arena_bytes"] > 0 and info["state_bytes"] > 0 and info["file_bytes"] == len(edgegru.load("tiny").to_bytes())
    assert "integer" == edgegru.load("basicmotions").info["numerics"]


def test_the_arm_dsp_layout_gives_the_same_bits(ucr):
    X, _ = edgegru.read_sequences(ucr / "BasicMotions/BasicMotions_TEST.ts")
    model = edgegru.load("basicmotions")
    dsp = model.with_layout("arm-dsp")
    assert dsp.info["arm_dsp_layout"] and len(dsp.to_bytes()) > len(model.to_bytes())
    assert hex_bits(dsp.predict(X).ravel()) == hex_bits(model.predict(X).ravel())


def ort_step_graph(path):
    """Runs an edgegru ONNX step graph of a feature model with onnxruntime's
    Python API, one step per call (inputs `features` and `h`)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    h_shape = [d if isinstance(d, int) else 1 for d in session.get_inputs()[1].shape]

    def run(series):
        h = np.zeros(h_shape, dtype=np.float32)
        for step in series:
            out, h = session.run(None, {"features": step[None, :], "h": h})
        return out[0]

    return run


def test_the_onnx_step_graph_runs_in_onnxruntime_close_to_the_device(tmp_path, ucr):
    X, _ = edgegru.read_sequences(ucr / "BasicMotions/BasicMotions_TEST.ts")
    model = edgegru.load("basicmotions")
    path = tmp_path / "bm.onnx"
    model.to_onnx(path)
    run = ort_step_graph(path)
    float_graph = np.stack([run(x) for x in X[:5]])
    assert np.abs(float_graph - model.predict(X[:5])).max() < 0.05, "integer-only device against its float graph"
    assert np.abs(model.predict(X[:5], backend="ort") - float_graph).max() < 1e-5, "the ort backend runs the same graph"


def test_session_steps_generate_and_states():
    model = edgegru.load("tiny")
    s = model.session()
    greedy = s.generate("The meaning of life is", 30, temperature=0)
    s.reset()
    assert s.generate("The meaning of life is", 30, temperature=0) == greedy
    s.reset()
    s.feed("The meaning of life is")
    saved = s.save_state()
    assert len(saved) == s.state_size
    first = s.generate("", 20, temperature=0)
    s.restore_state(saved)
    assert s.generate("", 20, temperature=0) == first
    top = s.top_k(3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] and all(isinstance(t, str) for t, _ in top)
    logits = s.step(5)
    assert logits.dtype == np.float32 and logits.shape == (model.info["vocab"],)
    assert s.hidden.dtype == np.float32


def test_generate_equals_the_command_line(cli):
    want = run_cli(cli, "generate", "--model", "tiny", "--prompt", "The meaning of life is", "--greedy", "--max-tokens", "60")
    got = edgegru.load("tiny").session().generate("The meaning of life is", 60, temperature=0)
    assert "The meaning of life is" + got == want.rstrip("\n")
    sampled = run_cli(cli, "generate", "--model", "tiny", "--prompt", "The", "--max-tokens", "60", "--seed", "7")
    assert "The" + edgegru.load("tiny").session().generate("The", 60, seed=7) == sampled.rstrip("\n")


def test_step_features_equals_predict():
    model = edgegru.load("basicmotions")
    X = np.random.default_rng(1).normal(size=(1, 12, 6)).astype(np.float32)
    s = model.session()
    for step in X[0]:
        out = s.step_features(step)
    assert hex_bits(out) == hex_bits(model.predict(X)[0])


def _counts_while(work):
    """How often a Python thread ran while `work` ran in the main thread."""
    count, stop = [0], threading.Event()

    def tick():
        while not stop.is_set():
            count[0] += 1
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    try:
        start = count[0]
        work()
        return count[0] - start
    finally:
        stop.set()
        t.join()


def test_predict_and_fit_release_the_gil(ucr):
    X, y = edgegru.read_sequences(ucr / "JapaneseVowels/JapaneseVowels_TEST.ts")
    model = edgegru.load("japanesevowels")
    t0 = time.perf_counter()
    ticks = _counts_while(lambda: [model.predict(X) for _ in range(20)])
    assert ticks > 0.2 * (time.perf_counter() - t0) * 1000 / 2, f"only {ticks} ticks: predict holds the GIL"
    Xb, yb = edgegru.read_sequences(ucr / "BasicMotions/BasicMotions_TRAIN.ts")
    t0 = time.perf_counter()
    ticks = _counts_while(lambda: edgegru.fit_classifier(Xb, yb, hidden=16, epochs=4, batch=8, threads=1, progress=None))
    assert ticks > 0.2 * (time.perf_counter() - t0) * 1000 / 2, f"only {ticks} ticks: fit holds the GIL"
