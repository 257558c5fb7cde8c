"""plots: the data series, the PNG files, and atomic writes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from streamneuron.errors import ConfigError, DataError
from streamneuron.metrics import StreamingMetrics
from streamneuron.plots import (
    evaluation_series,
    require_matplotlib,
    objective_series,
    plot_evaluation,
    plot_objective,
)

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import imread  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

HISTORY = [
    {"epoch": 1, "objective": 0.69},
    {"epoch": 2, "objective": 0.50},
    {"epoch": 3, "objective": 0.41},
]


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(7)
    p = rng.random(5_000)
    # Keep scores a few fine bins away from the coarse calibration edges j/10,
    # where the histogram's edges (the nearest fine edges) may differ.
    p = p[np.abs(p * 10 - np.round(p * 10)) > 1e-4]
    y = (rng.random(p.size) < p).astype(np.float64)
    m = StreamingMetrics()
    m.update(p, y)
    return p, y, m


def _assert_png(path, width, height):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    img = imread(path)
    assert img.shape[:2] == (height, width)


# ---------------------------------------------------------------- series


def test_objective_series_from_epochs():
    s = objective_series(HISTORY)
    assert s["xlabel"] == "epoch"
    assert s["x"] == [1, 2, 3]
    assert s["objective"] == [r["objective"] for r in HISTORY]


def test_objective_series_from_iterations():
    history = [{"iteration": i, "objective": 1.0 / i} for i in range(1, 6)]
    s = objective_series(history)
    assert s["xlabel"] == "iteration"
    assert s["x"] == [1, 2, 3, 4, 5]
    assert s["objective"] == [1.0 / i for i in range(1, 6)]


def test_objective_series_accepts_csv_strings():
    history = [{"epoch": "1", "objective": "0.5"}]
    s = objective_series(history)
    assert s == {"x": [1.0], "objective": [0.5], "xlabel": "epoch"}


def test_objective_series_needs_objective():
    with pytest.raises(ConfigError):
        objective_series([{"epoch": 1}])


def test_evaluation_series(scored):
    p, y, m = scored
    s = evaluation_series(m)
    assert (s["fpr"][0], s["tpr"][0]) == (0.0, 0.0)
    assert (s["fpr"][-1], s["tpr"][-1]) == (1.0, 1.0)
    assert s["auc"] == m.result()["auc"]
    # Plain numpy on the same data, coarse bins [j/10, (j+1)/10).
    ref_bin = np.minimum((p * 10).astype(int), 9)
    ref_count = np.bincount(ref_bin, minlength=10)
    assert np.array_equal(s["count"], ref_count)
    assert np.array_equal(s["observed_rate"], np.bincount(ref_bin, weights=y, minlength=10) / ref_count)
    ref_mean = np.bincount(ref_bin, weights=p, minlength=10) / ref_count
    assert np.allclose(s["mean_predicted"], ref_mean, atol=1e-6, rtol=0)


# ----------------------------------------------------------------- files


def test_plot_objective_writes_png(tmp_path):
    out = tmp_path / "objective.png"
    plot_objective(HISTORY, out)
    _assert_png(out, 640, 480)
    assert [f.name for f in tmp_path.iterdir()] == ["objective.png"]


def test_plot_evaluation_writes_png(tmp_path, scored):
    out = tmp_path / "eval.png"
    plot_evaluation(scored[2], str(out))
    _assert_png(out, 1100, 480)
    assert [f.name for f in tmp_path.iterdir()] == ["eval.png"]


def test_plot_evaluation_with_one_class(tmp_path):
    m = StreamingMetrics()
    m.update(np.array([0.3, 0.8]), np.array([1.0, 1.0]))
    out = tmp_path / "one.png"
    plot_evaluation(m, out)
    _assert_png(out, 1100, 480)


def test_missing_folder_is_an_error_and_writes_nothing(tmp_path, scored):
    target = tmp_path / "no" / "such" / "plot.png"
    with pytest.raises(ConfigError, match="does not exist"):
        plot_objective(HISTORY, target)
    with pytest.raises(ConfigError, match="does not exist"):
        plot_evaluation(scored[2], target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    out = tmp_path / "objective.png"
    out.write_bytes(b"old")

    def broken_savefig(self, fh, **kwargs):
        fh.write(b"\x89PNG partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_objective(HISTORY, out)
    assert out.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["objective.png"]


def test_write_error_is_a_config_error(tmp_path, monkeypatch):
    def full_disk(self, fh, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(ConfigError, match="No space left"):
        plot_objective(HISTORY, tmp_path / "objective.png")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced(tmp_path):
    out = tmp_path / "objective.png"
    out.write_bytes(b"old")
    plot_objective(HISTORY, out)
    _assert_png(out, 640, 480)


def test_target_is_a_directory(tmp_path):
    with pytest.raises(ConfigError, match="directory"):
        plot_objective(HISTORY, tmp_path)


def test_empty_inputs_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="empty"):
        plot_objective([], tmp_path / "a.png")
    with pytest.raises(DataError, match="no rows"):
        plot_evaluation(StreamingMetrics(bins=8), tmp_path / "b.png")
    assert list(tmp_path.iterdir()) == []


def test_missing_matplotlib_is_a_config_error(tmp_path, monkeypatch):
    # A None entry in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match="needs matplotlib"):
        require_matplotlib()
    with pytest.raises(ConfigError, match=r"pip install 'streamneuron\[plot\]'"):
        plot_objective(HISTORY, tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []
