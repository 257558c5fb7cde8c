"""streamneuron: a single sigmoid neuron trained on data larger than memory.

``p = sigmoid(X @ w + b)``, trained by streaming mini-batch SGD (a fused,
compiled kernel fed by chunked Parquet/HDF5 readers) or by full-pass gradient
descent on Dask. See INTERFACE.md and the README.
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    DivergenceError,
    ModelError,
    StreamNeuronError,
    TrainingInterrupted,
)
from .neuron import Neuron, load_model  # noqa: E402
from .readers import ArraySource, Source, from_dataframe, open_source  # noqa: E402
from .sgd import fit_sgd  # noqa: E402
from .stream import Position  # noqa: E402


def __getattr__(name):
    # Heavy or optional pieces load on first use: Dask for fit_gd, scikit-learn
    # for NeuronClassifier. `import streamneuron` stays fast for the CLI.
    if name == "fit_gd":
        from .gd import fit_gd

        return fit_gd
    if name == "NeuronClassifier":
        from .sklearn import NeuronClassifier

        return NeuronClassifier
    raise AttributeError(f"module 'streamneuron' has no attribute {name!r}")


__all__ = [
    "open_source", "Source", "ArraySource", "from_dataframe", "Position", "Neuron", "load_model", "fit_sgd", "fit_gd",
    "NeuronClassifier", "StreamNeuronError", "DataError", "ConfigError", "ModelError",
    "CheckpointError", "TrainingInterrupted", "DivergenceError", "__version__",
]
