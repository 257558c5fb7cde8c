"""Property-based tests (hypothesis) of the readers and the stream order.

Files of random row-group (Parquet) or chunk (HDF5) sizes, random batch sizes,
seeds, shuffle windows and epochs. Each row carries its own index as feature
``id`` and a label derived from it, so every test can tell exactly which rows
came, in which order, and that X and y stayed aligned:

* every row exactly once per epoch, through ``Source.batches`` and ``iter_blocks``;
* batches of exactly ``batch_size`` rows but the last;
* no shuffle means file order; the order is a pure function of (seed, epoch);
* restarting ``iter_blocks`` from any ``Position`` yields exactly the rest of
  the stream, across epoch ends, with or without prefetching.
"""

from __future__ import annotations

import os
import tempfile

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streamneuron as sn
from streamneuron.readers import hdf5 as hdf5_reader
from streamneuron.stream import Position, block_order, epoch_plan, iter_blocks

SETTINGS = settings(max_examples=40, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow,
                                            HealthCheck.function_scoped_fixture])

sizes_st = st.lists(st.integers(min_value=1, max_value=37), min_size=1, max_size=12)


def label_of(ids: np.ndarray) -> np.ndarray:
    return ((ids.astype(np.int64) * 7919) % 3 == 0).astype(np.float64)


def write_parquet(folder: str, sizes: list[int], n_files: int = 1) -> list[str]:
    """Row groups of the given sizes, spread over ``n_files`` files; columns id, x1, y."""
    groups = np.array_split(np.arange(len(sizes)), n_files)
    paths, start = [], 0
    for f, group in enumerate(groups):
        if len(group) == 0:
            continue
        path = os.path.join(folder, f"part-{f:02d}.parquet")
        schema = pa.schema([("id", pa.float64()), ("x1", pa.float32()), ("y", pa.int8())])
        with pq.ParquetWriter(path, schema) as writer:
            for g in group:
                ids = np.arange(start, start + sizes[g], dtype=np.float64)
                start += sizes[g]
                writer.write_table(pa.table({"id": ids, "x1": (-ids).astype(np.float32),
                                             "y": label_of(ids).astype(np.int8)}, schema=schema))
        paths.append(path)
    return paths


def write_hdf5(folder: str, n_rows: int, chunk: int) -> str:
    path = os.path.join(folder, "data.h5")
    ids = np.arange(n_rows, dtype=np.float64)
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=np.column_stack([ids, -ids]), chunks=(min(chunk, n_rows), 2))
        f["y"] = label_of(ids)
    return path


def check_rows(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The row ids of a batch, after checking the columns and label match them."""
    ids = np.asarray(X[:, 0], dtype=np.float64)
    assert np.array_equal(np.asarray(X[:, 1], dtype=np.float64), -ids)
    assert np.array_equal(y, label_of(ids))
    return ids.astype(np.int64)


def stream_ids(source, start: Position, epochs: int, shuffle: bool, seed: int, window: int,
               prefetch: int) -> tuple[list[int], list[Position]]:
    ids, positions = [], []
    for block in iter_blocks(source, start, epochs=epochs, shuffle=shuffle, seed=seed,
                             window=window, prefetch=prefetch):
        positions.append(block.position)
        rows = block.order[block.position.row:] if block.order.size else \
            np.arange(block.position.row, len(block.y))
        ids.extend(check_rows(block.X[rows], block.y[rows]).tolist())
    return ids, positions


# ------------------------------------------------------------------ plan and order
@SETTINGS
@given(n_units=st.integers(1, 60), seed=st.integers(0, 2**32 - 1), epoch=st.integers(0, 50),
       window=st.integers(1, 8), shuffle=st.booleans())
def test_epoch_plan_covers_every_unit_once(n_units, seed, epoch, window, shuffle):
    plan = epoch_plan(n_units, seed=seed, epoch=epoch, shuffle=shuffle, window=window)
    flat = [u for block in plan for u in block]
    assert sorted(flat) == list(range(n_units))
    assert all(1 <= len(block) <= window for block in plan)
    assert all(len(block) == window for block in plan[:-1])
    if not shuffle:
        assert flat == list(range(n_units))
    assert plan == epoch_plan(n_units, seed=seed, epoch=epoch, shuffle=shuffle, window=window)


@SETTINGS
@given(n=st.integers(0, 500), seed=st.integers(0, 2**32 - 1), epoch=st.integers(0, 9),
       block=st.integers(0, 99))
def test_block_order_is_a_seeded_permutation(n, seed, epoch, block):
    order = block_order(n, seed=seed, epoch=epoch, block=block, shuffle=True)
    assert order.dtype.kind == "i" and sorted(order.tolist()) == list(range(n))
    # the documented promise: numpy's own seeded permutation, value for value
    assert np.array_equal(order, np.random.default_rng([seed, epoch, block]).permutation(n))
    assert np.array_equal(order, block_order(n, seed=seed, epoch=epoch, block=block, shuffle=True))
    assert block_order(n, seed=seed, epoch=epoch, block=block, shuffle=False).size == 0


# ------------------------------------------------------------------ Parquet batches
@SETTINGS
@given(sizes=sizes_st, n_files=st.integers(1, 3), batch_size=st.integers(1, 60),
       seed=st.integers(0, 1000), epoch=st.integers(0, 3), shuffle=st.booleans())
def test_parquet_batches_every_row_once(sizes, n_files, batch_size, seed, epoch, shuffle):
    n = sum(sizes)
    with tempfile.TemporaryDirectory() as folder:
        paths = write_parquet(folder, sizes, n_files)
        with sn.open_source(paths if len(paths) > 1 else folder, label="y") as src:
            assert src.n_rows == n and src.unit_sizes == sizes
            assert src.feature_names == ["id", "x1"]
            batches = list(src.batches(batch_size, shuffle=shuffle, seed=seed, epoch=epoch))
            again = list(src.batches(batch_size, shuffle=shuffle, seed=seed, epoch=epoch))
    lengths = [len(y) for _, y in batches]
    assert all(m == batch_size for m in lengths[:-1]) and 1 <= lengths[-1] <= batch_size
    ids = np.concatenate([check_rows(X, y) for X, y in batches])
    assert sorted(ids.tolist()) == list(range(n))  # every row exactly once
    if not shuffle:
        assert ids.tolist() == list(range(n))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(batches, again))  # deterministic


# ------------------------------------------------------------------ restart anywhere
def check_restart(src, data, shuffle, seed, window, epochs=2):
    full, positions = stream_ids(src, Position(), epochs, shuffle, seed, window, prefetch=0)
    n = src.n_rows
    assert len(full) == epochs * n
    for e in range(epochs):  # every row exactly once per epoch
        assert sorted(full[e * n:(e + 1) * n]) == list(range(n))
    # Block start offsets in the whole stream.
    offsets, total = {}, 0
    for e in range(epochs):
        for k, units in enumerate(epoch_plan(len(src.units), seed=seed, epoch=e,
                                             shuffle=shuffle, window=window)):
            offsets[(e, k)] = total
            total += sum(src.units[u].n_rows for u in units)
    assert [(p.epoch, p.block) for p in positions] == list(offsets)
    # Restart from a few random positions, some at block ends, some mid-block.
    for _ in range(4):
        e, k = data.draw(st.sampled_from(list(offsets)))
        size = (offsets.get((e, k + 1)) or offsets.get((e + 1, 0)) or total) - offsets[(e, k)]
        row = data.draw(st.integers(0, size))
        prefetch = data.draw(st.integers(0, 2))
        rest, rest_positions = stream_ids(src, Position(e, k, row), epochs, shuffle, seed,
                                          window, prefetch)
        assert rest == full[offsets[(e, k)] + row:]
        assert rest_positions[0] == Position(e, k, row)
        assert all(p.row == 0 for p in rest_positions[1:])


@SETTINGS
@given(data=st.data(), sizes=sizes_st, n_files=st.integers(1, 3), seed=st.integers(0, 1000),
       window=st.integers(1, 4), shuffle=st.booleans())
def test_parquet_restart_from_any_position(data, sizes, n_files, seed, window, shuffle):
    with tempfile.TemporaryDirectory() as folder:
        paths = write_parquet(folder, sizes, n_files)
        with sn.open_source(paths, label="y") as src:
            check_restart(src, data, shuffle, seed, window)


@SETTINGS
@given(data=st.data(), n_rows=st.integers(1, 300), chunk=st.integers(1, 40),
       unit_rows=st.integers(1, 90), seed=st.integers(0, 1000), window=st.integers(1, 3),
       shuffle=st.booleans(), batch_size=st.integers(1, 50))
def test_hdf5_batches_and_restart(monkeypatch, data, n_rows, chunk, unit_rows, seed, window,
                                  shuffle, batch_size):
    # Small units, so that a small file has many of them (the default is 65536 rows).
    monkeypatch.setattr(hdf5_reader, "TARGET_UNIT_ROWS", unit_rows)
    with tempfile.TemporaryDirectory() as folder:
        path = write_hdf5(folder, n_rows, chunk)
        with sn.open_source(path) as src:
            sizes = src.unit_sizes
            assert sum(sizes) == n_rows
            step = min(chunk, n_rows)
            assert all(s % step == 0 for s in sizes[:-1])  # units are whole HDF5 chunks
            batches = list(src.batches(batch_size, shuffle=shuffle, seed=seed))
            ids = np.concatenate([check_rows(X, y) for X, y in batches])
            assert sorted(ids.tolist()) == list(range(n_rows))
            assert all(len(y) == batch_size for _, y in batches[:-1])
            check_restart(src, data, shuffle, seed, window)


# ------------------------------------------------------------------ the engine sees the same
@SETTINGS
@given(sizes=sizes_st, batch_size=st.integers(1, 40), seed=st.integers(0, 100),
       shuffle=st.booleans())
def test_sgd_epoch_equals_batches_stream(sizes, batch_size, seed, shuffle):
    """One epoch of fit_sgd equals Neuron.partial_fit over Source.batches: the
    engine cuts the same batches, in the same order, as the public iterator."""
    with tempfile.TemporaryDirectory() as folder:
        paths = write_parquet(folder, sizes)
        with sn.open_source(paths, label="y") as src:
            if len(set(label_of(np.arange(sum(sizes))))) == 1:  # (every row 0, or 1)
                with pytest.raises(sn.DataError, match="holds only the value"):
                    sn.fit_sgd(src, epochs=1)
                return
            model = sn.fit_sgd(src, batch_size=batch_size, epochs=1, lr=0.05, schedule="constant", seed=seed,
                               shuffle=shuffle, standardize=False, l2=0.0)
            ref = sn.Neuron(src.n_features)
            for X, y in src.batches(batch_size, shuffle=shuffle, seed=seed):
                ref.partial_fit(X, y, lr=0.05)
    assert model.weights.tolist() == ref.weights.tolist()  # the same arithmetic, bit for bit
    assert model.bias == ref.bias
