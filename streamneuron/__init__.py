"""streamneuron: a single sigmoid neuron trained on data larger than memory.

``p = sigmoid(X @ w + b)``, trained by streaming mini-batch SGD (a fused,
compiled kernel fed by chunked Parquet/HDF5 readers) or by full-pass gradient
descent on Dask. See the README ("The library" for the API).
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    DataWarning,
    DivergenceError,
    ModelError,
    StreamNeuronError,
    TrainingInterrupted,
)
# Everything else loads on first use (PEP 562): numba, pyarrow and Dask are heavy,
# and `streamneuron --version` or `inspect` should not pay for what they do not use.
_LAZY = {
    "Neuron": "neuron", "load_model": "neuron",
    "open_source": "readers", "Source": "readers", "ArraySource": "readers",
    "from_dataframe": "readers",
    "fit_sgd": "sgd", "Position": "stream",
    "fit_gd": "fullpass", "fit_newton": "fullpass", "fit_lbfgs": "fullpass", "NeuronClassifier": "sklearn",
    "NeuronClassifierCV": "sklearn_cv", "summary": "inference", "evaluate": "apply",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'streamneuron' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "open_source", "Source", "ArraySource", "from_dataframe", "Position", "Neuron", "load_model", "fit_sgd", "fit_gd", "fit_newton", "fit_lbfgs",
    "NeuronClassifier", "NeuronClassifierCV", "summary", "evaluate", "StreamNeuronError", "DataError", "ConfigError", "ModelError",
    "CheckpointError", "TrainingInterrupted", "DivergenceError", "__version__",
]
