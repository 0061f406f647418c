"""Bad input never crashes the interpreter: each case raises a clear
exception, and the objects stay usable afterwards."""

import numpy as np
import pytest

import edgegru

GOOD = np.zeros((2, 5, 6), dtype=np.float32)


@pytest.fixture()
def bm():
    return edgegru.load("basicmotions")


def still_works(model):
    assert model.predict(GOOD).shape == (2, 4)


@pytest.mark.parametrize(
    "x,error,match",
    [
        (GOOD.astype(np.float64), TypeError, "float32"),
        (GOOD.astype(np.int32), TypeError, "float32"),
        (GOOD[0], ValueError, "3 dimensions"),
        (GOOD[None], ValueError, "3 dimensions"),
        (np.zeros((2, 5, 4), dtype=np.float32), ValueError, "4 features per step; the model reads 6"),
        (np.zeros((0, 5, 6), dtype=np.float32), ValueError, "no sequences"),
        (np.zeros((2, 0, 6), dtype=np.float32), ValueError, "empty"),
        ([], ValueError, "no sequences"),
        ([GOOD[0], GOOD[0].astype(np.float64)], TypeError, r"X\[1\] must be float32"),
        ([GOOD[0], GOOD[0][:, :3]], ValueError, "sequence 1 has 3 features"),
        ("walking", TypeError, "numpy float32 array"),
        (None, TypeError, "numpy float32 array"),
    ],
)
def test_predict_refuses_arrays_of_the_wrong_kind(bm, x, error, match):
    with pytest.raises(error, match=match):
        bm.predict(x)
    still_works(bm)


def test_nan_and_inf_features(bm):
    x = GOOD.copy()
    x[1, 2, 3] = np.nan
    with pytest.raises(edgegru.DataError, match="missing value"):
        bm.predict(x)
    x[1, 2, 3] = np.inf
    with pytest.raises(ValueError, match="sequence 1, step 2, feature 3: the value is infinite"):
        bm.predict(x)
    s = bm.session()
    with pytest.raises(edgegru.DataError):
        s.step_features(np.array([np.nan] * 6, dtype=np.float32))
    with pytest.raises(ValueError, match="infinite"):
        s.step_features(np.array([np.inf] * 6, dtype=np.float32))
    with pytest.raises(edgegru.DataError):
        s.step_features(np.zeros(5, dtype=np.float32))
    with pytest.raises(TypeError, match="float32"):
        s.step_features(np.zeros(6, dtype=np.float64))
    assert s.step_features([0.0] * 6).shape == (4,)
    still_works(bm)


def test_a_text_model_given_features_and_the_reverse(bm):
    tiny = edgegru.load("tiny")
    with pytest.raises(edgegru.DataError, match="reads tokens"):
        tiny.predict(GOOD)
    with pytest.raises(edgegru.DataError, match="reads text"):
        tiny.evaluate(GOOD, ["Walking", "Walking"])
    with pytest.raises(edgegru.DataError, match="reads features"):
        bm.evaluate("some text")
    s = bm.session()
    for call in (lambda: s.step(3), lambda: s.feed("abc"), lambda: s.generate("abc"), lambda: s.top_k(2)):
        with pytest.raises(edgegru.DataError, match="reads features"):
            call()
    with pytest.raises(edgegru.DataError, match="reads tokens"):
        tiny.session().step_features(np.zeros(6, dtype=np.float32))
    still_works(bm)


def test_corrupt_truncated_and_foreign_model_bytes():
    good = edgegru.load("basicmotions").to_bytes()
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    for data in (b"", b"EGRU", good[: len(good) // 2], bytes(flipped), b"\x89HDF\r\n\x1a\n" + bytes(100), bytes(range(256)) * 4):
        with pytest.raises(edgegru.ModelError):
            edgegru.Model.from_bytes(data)
    with pytest.raises(TypeError, match="bytes or bytearray"):
        edgegru.Model.from_bytes("EGRU")
    with pytest.raises(FileNotFoundError):
        edgegru.load("/no/such/model.egru")
    assert edgegru.Model.from_bytes(bytearray(good)).to_bytes() == good


def test_a_state_from_another_model_is_refused_and_the_session_goes_on():
    char = edgegru.load("fortunes-char").session()
    char.feed("Hello")
    before = char.save_state()
    expected = char.generate("", 20, temperature=0)
    char.restore_state(before)
    other = edgegru.load("tiny").session()
    other.feed("Hi")
    for state in (other.save_state(), b"", b"junk" * 10, before[:-1]):
        with pytest.raises(edgegru.DataError):
            char.restore_state(state)
    with pytest.raises(TypeError):
        char.restore_state("state")
    assert char.generate("", 20, temperature=0) == expected, "a refused state leaves the session as it was"


def test_tokens_and_sizes_out_of_range():
    s = edgegru.load("tiny").session()
    vocab = edgegru.load("tiny").info["vocab"]
    for token in (-1, vocab, 2**40):
        with pytest.raises(ValueError, match="out of range"):
            s.step(token)
    with pytest.raises(OverflowError):
        s.step(2**80)
    with pytest.raises(ValueError):
        s.top_k(0)
    with pytest.raises(OverflowError):
        s.top_k(-3)
    with pytest.raises(OverflowError):
        s.generate("The", -1)
    with pytest.raises(ValueError, match="max_tokens"):
        s.generate("The", 10**12)
    with pytest.raises(ValueError, match="temperature"):
        s.generate("The", 5, temperature=float("nan"))
    with pytest.raises(ValueError, match="top_p"):
        s.generate("The", 5, top_p=0.0)
    with pytest.raises(edgegru.DataError, match="not in the vocabulary|unknown|vocabulary"):
        s.feed("\u2603 snowman")
    with pytest.raises(edgegru.DataError, match="earlier step"):
        edgegru.load("tiny").session().top_k(3)
    s.feed("The ")
    assert len(s.top_k(5)) == 5 and isinstance(s.generate("The", 5), str)


def test_evaluate_refuses_bad_labels(bm):
    with pytest.raises(ValueError, match="needs y"):
        bm.evaluate(GOOD)
    with pytest.raises(ValueError, match="1 labels for 2 sequences"):
        bm.evaluate(GOOD, ["Walking"])
    with pytest.raises(edgegru.DataError, match="not one of the model's"):
        bm.evaluate(GOOD, ["Walking", "Flying"])
    with pytest.raises(TypeError, match="class labels are str or int"):
        bm.evaluate(GOOD, [1.5, 2.5])
    with pytest.raises(ValueError, match="val_split"):
        edgegru.load("tiny").evaluate("text here", val_split=0.0)
    still_works(bm)


def test_fit_refuses_bad_settings_and_data(tmp_path):
    X, y = GOOD, ["a", "b"]
    cases = [
        (dict(hidden=0), ValueError, "hidden"),
        (dict(layers=9), ValueError, "layers"),
        (dict(epochs=None), ValueError, "epochs= or steps="),
        (dict(device="tpu"), ValueError, "device"),
        (dict(fill="guess"), ValueError, "fill"),
        (dict(epochs=-1), ValueError, "epochs must be a whole number"),
        (dict(batch=2.5), ValueError, "batch must be a whole number"),
        (dict(lr=float("nan")), ValueError, "lr must be"),
        (dict(val_split=1.5), ValueError, "val_split"),
    ]
    for kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            edgegru.fit_classifier(X, y, progress=None, threads=1, **{"epochs": 1, **kwargs})
    with pytest.raises(edgegru.TrainingError, match="fewer than one batch"):
        edgegru.fit_classifier(X, y, epochs=1, progress=None)
    with pytest.raises(edgegru.TrainingError, match=r"GiB\), the machine has"):
        edgegru.fit_classifier(np.zeros((32, 5, 6), np.float32), ["a", "b"] * 16, hidden=200_000, epochs=1, progress=None)
    with pytest.raises(ValueError, match="3 labels for 2 sequences"):
        edgegru.fit_classifier(X, ["a", "b", "c"], epochs=1, progress=None)
    with pytest.raises(ValueError, match="both x_val and y_val"):
        edgegru.fit_classifier(X, y, X, epochs=1, progress=None)
    with pytest.raises(ValueError, match="a class the training labels do not"):
        edgegru.fit_classifier(X, y, X, ["a", "zebra"], epochs=1, progress=None)
    with pytest.raises(edgegru.DataError, match="cannot be written"):
        edgegru.fit_classifier(X, ["slow walk", "run"], epochs=1, progress=None)
    with pytest.raises(TypeError, match="unexpected option.*hiden"):
        edgegru.fit_classifier(X, y, hiden=8, epochs=1, progress=None)
    with pytest.raises(ValueError, match="progress"):
        edgegru.fit_classifier(X, y, epochs=1, progress="loud")
    (tmp_path / "run").mkdir()
    edgegru.fit_classifier(np.zeros((8, 3, 2), np.float32), ["a", "b"] * 4, epochs=1, batch=4, threads=1, out=tmp_path / "run",
                           progress=None)
    with pytest.raises(edgegru.TrainingError, match="already|holds|exists"):
        edgegru.fit_classifier(np.zeros((8, 3, 2), np.float32), ["a", "b"] * 4, epochs=1, batch=4, out=tmp_path / "run", progress=None)


def test_file_writes_never_replace_work_silently(bm, tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        bm.to_onnx(tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == b"mine"
    with pytest.raises(edgegru.ModelError, match="folder"):
        bm.save(tmp_path)
    with pytest.raises(ValueError, match="weights"):
        bm.to_onnx(tmp_path / "x.onnx", weights="int4")
    with pytest.raises(ValueError, match="layout"):
        bm.with_layout("fast")
    with pytest.raises(ValueError, match="backend"):
        bm.session(backend="gpu")
