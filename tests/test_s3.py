"""Remote storage: train, evaluate and predict through s3:// (a local moto server) and memory://.

Everything read from a URL must give exactly (``==``) what the same bytes give from
a local file; predictions written to S3 appear whole or not at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

import boto3  # noqa: E402
import fsspec  # noqa: E402
import s3fs  # noqa: E402

import streamneuron as sn  # noqa: E402
from streamneuron.apply import predict_to_parquet  # noqa: E402
from streamneuron.cli import main  # noqa: E402
from streamneuron.readers import ArraySource  # noqa: E402
from conftest import make_data, write_hdf5, write_parquet  # noqa: E402

BUCKET = "sn-data"
FIT = dict(batch_size=32, epochs=2, lr=0.1, seed=3)


def _aws_env(endpoint: str, home: str) -> dict:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Never read the developer's real AWS setup, never wait on instance metadata.
        "AWS_CONFIG_FILE": os.path.join(home, "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 with local and uploaded copies of the data."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    local = tmp_path_factory.mktemp("s3data")
    env = _aws_env(f"http://{host}:{port}", str(local))
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        for name, value in env.items():
            mp.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)

        # A folder of two Parquet files (several row groups each), and one HDF5 file.
        X, y = make_data(n=700, d=4, seed=5)
        table = local / "table"
        table.mkdir()
        write_parquet(table / "part-0.parquet", X[:400], y[:400], row_group_size=90,
                      extra={"id": np.arange(400)})
        write_parquet(table / "part-1.parquet", X[400:], y[400:], row_group_size=90,
                      extra={"id": np.arange(400, 700)})
        (table / "_SUCCESS").write_bytes(b"")
        h5 = write_hdf5(local / "data.h5", X, y, chunk_rows=64)
        for path in sorted(table.iterdir()):
            client.upload_file(str(path), BUCKET, f"table/{path.name}")
        client.upload_file(h5, BUCKET, "data.h5")
        try:
            yield {"client": client, "env": env, "local": local, "table": str(table),
                   "h5": h5, "url": f"s3://{BUCKET}"}
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
            server.stop()


@pytest.fixture(autouse=True)
def fresh_s3fs():
    """No s3fs instance (with its listing cache) lives from one test to the next."""
    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


def run_cli(*args, env):
    proc = subprocess.run([sys.executable, "-m", "streamneuron", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    return proc


def object_keys(client, prefix=""):
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


# ------------------------------------------------------------------------------- reading


def test_parquet_folder_on_s3_trains_like_local(s3):
    local = sn.fit_sgd(s3["table"], label="y", **FIT)
    remote = sn.fit_sgd(f"{s3['url']}/table", label="y", **FIT)
    assert np.array_equal(remote.weights, local.weights) and remote.bias == local.bias
    assert remote.info["history"][-1]["objective"] == local.info["history"][-1]["objective"]


@pytest.mark.parametrize("suffix", ["table", "table/", "table/*.parquet", "table/part-?.parquet"])
def test_folders_and_globs_on_s3_list_like_local(s3, suffix):
    with sn.open_source(f"{s3['url']}/{suffix}", label="y") as source:
        assert [f.url for f in source.files] == [f"{s3['url']}/table/part-0.parquet",
                                                 f"{s3['url']}/table/part-1.parquet"]
        with sn.open_source(s3["table"], label="y") as local:
            assert source.unit_sizes == local.unit_sizes
            assert source.feature_names == local.feature_names
            chunk, expected = source.read(3), local.read(3)
            assert np.array_equal(chunk.X, expected.X) and np.array_equal(chunk.y, expected.y)
            assert chunk.X.dtype == expected.X.dtype


def test_hdf5_on_s3_trains_and_evaluates_like_local(s3):
    local = sn.fit_sgd(s3["h5"], **FIT)
    remote = sn.fit_sgd(f"{s3['url']}/data.h5", **FIT)
    assert np.array_equal(remote.weights, local.weights) and remote.bias == local.bias
    from streamneuron.apply import evaluate

    with sn.open_source(f"{s3['url']}/data.h5") as src:
        remote_metrics = evaluate(local, src).result()
    with sn.open_source(s3["h5"]) as src:
        local_metrics = evaluate(local, src).result()
    assert remote_metrics == local_metrics


@pytest.mark.parametrize("solver", ["newton", "lbfgs"])
def test_full_pass_solvers_on_s3_train_like_local(s3, solver):
    """Each partition task opens its S3 object itself (in this process here): the
    same passes and the same weights as from the local copy."""
    kwargs = dict(solver=solver, l2=1e-3, workers=0, label="y", features=["x0", "x1", "x2", "x3"])
    local = sn.fit_gd(s3["table"], **kwargs)
    remote = sn.fit_gd(f"{s3['url']}/table", **kwargs)
    assert remote.info["converged"] and remote.info["passes"] == local.info["passes"]
    np.testing.assert_array_equal(remote.weights, local.weights)
    assert remote.bias == local.bias


def test_parquet_row_group_reads_only_its_column_chunks(s3, monkeypatch):
    """Bounded reads: one range request per needed column chunk, nothing else."""
    fetched = []
    original = s3fs.core.S3File._fetch_range

    def spy(self, start, end):
        fetched.append((start, end))
        return original(self, start, end)

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", spy)
    source = sn.open_source(f"{s3['url']}/table/part-0.parquet", label="y", features=["x1"])
    size = os.path.getsize(os.path.join(s3["table"], "part-0.parquet"))
    # Opening: the first bytes (the format) and the footer, nothing in between.
    assert fetched[0] == (0, 4104) and all(end == size for _, end in fetched[1:])
    assert sum(end - start for start, end in fetched[1:]) <= 65536
    fetched.clear()
    meta = pq.ParquetFile(os.path.join(s3["table"], "part-0.parquet")).metadata
    chunk = source.read(2)
    rg = meta.row_group(2)
    wanted = {}
    for j in range(rg.num_columns):
        col = rg.column(j)
        if col.path_in_schema in ("x1", "y"):
            start = col.dictionary_page_offset or col.data_page_offset
            wanted[col.path_in_schema] = (start, start + col.total_compressed_size)
    assert sorted(fetched) == sorted(wanted.values())
    assert len(chunk.y) == rg.num_rows


def test_listing_sees_objects_written_after_a_first_listing(s3):
    assert len(sn.open_source(f"{s3['url']}/table/", label="y").files) == 2
    fs = fsspec.filesystem("s3")
    fs.put_file(os.path.join(s3["table"], "part-1.parquet"), f"{BUCKET}/table2/a.parquet")
    assert len(sn.open_source(f"{s3['url']}/table2/", label="y").files) == 1
    s3["client"].upload_file(os.path.join(s3["table"], "part-0.parquet"), BUCKET, "table2/b.parquet")
    assert len(sn.open_source(f"{s3['url']}/table2/", label="y").files) == 2


def test_missing_bucket_and_key_are_clear_errors(s3):
    with pytest.raises(sn.DataError, match="no such file or folder"):
        sn.open_source(f"{s3['url']}/nothing-here.parquet")
    with pytest.raises(sn.DataError, match="no-such-bucket"):
        sn.open_source("s3://no-such-bucket/x.parquet")
    with pytest.raises(sn.DataError, match="Protocol not known"):
        sn.open_source("nosuchproto://x/y.parquet")


# ------------------------------------------------------------------------------- writing


def _predict_table(model, data, out, keep=("id",)):
    with sn.open_source(data, label=None, features=model.feature_names) as src:
        predict_to_parquet(model, src, out, keep=keep)


def test_predict_writes_to_s3_exactly_what_it_writes_locally(s3, tmp_path):
    model = sn.fit_sgd(s3["table"], label="y", **FIT)
    _predict_table(model, s3["table"], tmp_path / "local.parquet")
    _predict_table(model, f"{s3['url']}/table/", f"{s3['url']}/out/pred.parquet")
    assert object_keys(s3["client"], "out/") == ["out/pred.parquet"]
    with fsspec.open(f"{s3['url']}/out/pred.parquet", "rb") as f:
        remote = pq.read_table(f)
    assert remote.equals(pq.read_table(tmp_path / "local.parquet"))
    assert remote.column_names == ["probability", "prediction", "id"]


def test_failed_predict_leaves_no_object_and_no_upload(s3, monkeypatch):
    """The failure comes after a multipart part was uploaded: the upload is aborted,
    no object appears, and an existing object keeps its old bytes."""
    monkeypatch.setattr(s3fs.S3FileSystem, "default_block_size", 5 * 2**20)  # S3's least part
    s3fs.S3FileSystem.clear_instance_cache()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(720_000, 2))
    X[-1, 1] = np.nan  # the last unit fails, after ~5.3 MB of predictions
    model = sn.Neuron(2, feature_names=["x0", "x1"])
    model.weights[:] = [0.3, -0.2]
    source = ArraySource(X, None)
    client = s3["client"]
    uploads = []
    original = s3fs.core.S3File._upload_chunk

    def spy(self, final=False):
        uploads.append((final, self.buffer.tell() if self.buffer is not None else None))
        return original(self, final)

    monkeypatch.setattr(s3fs.core.S3File, "_upload_chunk", spy)
    for key in ("fail/new.parquet", "fail/old.parquet"):
        if key.endswith("old.parquet"):
            client.put_object(Bucket=BUCKET, Key=key, Body=b"old bytes")
        with pytest.raises(sn.DataError, match="x1"):
            predict_to_parquet(model, source, f"{s3['url']}/{key}")
    assert uploads, "a multipart part should have been uploaded before the failure"
    assert object_keys(client, "fail/") == ["fail/old.parquet"]
    assert client.get_object(Bucket=BUCKET, Key="fail/old.parquet")["Body"].read() == b"old bytes"
    assert not client.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_memory_filesystem_end_to_end(tmp_path):
    X, y = make_data(n=300, d=3, seed=2)
    local = write_parquet(tmp_path / "d.parquet", X, y, row_group_size=70)
    fs = fsspec.filesystem("memory")
    fs.put_file(local, "/sn-test/d.parquet")
    try:
        remote_model = sn.fit_sgd("memory://sn-test/d.parquet", label="y", **FIT)
        local_model = sn.fit_sgd(local, label="y", **FIT)
        assert np.array_equal(remote_model.weights, local_model.weights)
        assert remote_model.bias == local_model.bias
        _predict_table(local_model, "memory://sn-test/", "memory://sn-test/out/p.parquet", keep=())
        _predict_table(local_model, local, tmp_path / "p.parquet", keep=())
        with fs.open("/sn-test/out/p.parquet", "rb") as f:
            assert pq.read_table(f).equals(pq.read_table(tmp_path / "p.parquet"))
        # A failure leaves an existing object as it was.
        bad = X.copy()
        bad[-1, 0] = np.inf
        with pytest.raises(sn.DataError):
            predict_to_parquet(local_model, ArraySource(bad, None), "memory://sn-test/out/p.parquet")
        with fs.open("/sn-test/out/p.parquet", "rb") as f:
            assert pq.read_table(f).equals(pq.read_table(tmp_path / "p.parquet"))
    finally:
        fs.rm("/sn-test", recursive=True)


# ------------------------------------------------------------------------------- CLI


def test_cli_train_evaluate_predict_on_s3(s3, tmp_path, capsys):
    env = s3["env"]
    url = s3["url"]
    args = ["--label", "y", "--features", "x0,x1,x2,x3", "--epochs", 2, "--batch-size", 32,
            "--seed", 3, "--quiet", "--json"]
    # Train from S3 in a subprocess (the environment alone carries endpoint and keys)...
    proc = run_cli("train", f"{url}/table/", "-o", tmp_path / "remote.json", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    # ... and from the local copy in-process: the same model, bit for bit.
    assert main(["train", s3["table"], "-o", str(tmp_path / "local.json"), *map(str, args)]) == 0
    capsys.readouterr()
    remote = json.loads((tmp_path / "remote.json").read_text())
    local = json.loads((tmp_path / "local.json").read_text())
    assert remote["weights"] == local["weights"] and remote["bias"] == local["bias"]
    assert remote["standardize"] == local["standardize"]

    # evaluate through S3 equals evaluate on local files (HDF5 this time).
    assert main(["evaluate", str(tmp_path / "local.json"), f"{url}/data.h5", "--json"]) == 0
    remote_eval = json.loads(capsys.readouterr().out)
    assert main(["evaluate", str(tmp_path / "local.json"), s3["h5"], "--json"]) == 0
    assert remote_eval == json.loads(capsys.readouterr().out)

    # predict from S3 to S3; the object equals a local prediction.
    assert main(["predict", str(tmp_path / "local.json"), f"{url}/table/*.parquet", "-o",
                 f"{url}/cli/pred.parquet", "--keep", "id", "--quiet"]) == 0
    assert main(["predict", str(tmp_path / "local.json"), s3["table"], "-o",
                 str(tmp_path / "pred.parquet"), "--keep", "id", "--quiet"]) == 0
    with fsspec.open(f"{url}/cli/pred.parquet", "rb") as f:
        assert pq.read_table(f).equals(pq.read_table(tmp_path / "pred.parquet"))


def test_cli_output_urls_checked_before_work(s3, tmp_path, capsys):
    model = tmp_path / "m.json"
    sn.fit_sgd(s3["table"], label="y", epochs=1).save(model)
    cases = [
        (["predict", str(model), s3["table"], "-o", "s3://no-such-bucket/p.parquet"],
         "bucket 'no-such-bucket' does not exist"),
        (["predict", str(model), s3["table"], "-o", f"{s3['url']}/table"], "is a folder"),
        (["predict", str(model), s3["table"], "-o", "nosuchproto://x/p.parquet"],
         "Protocol not known"),
        (["train", s3["table"], "-o", f"{s3['url']}/m.json"], "must be a local file path"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("Error:") and message in err[0], err
    assert object_keys(s3["client"], "m.json") == []
    with pytest.MonkeyPatch.context() as mp:  # no credentials: said before any work
        mp.delenv("AWS_ACCESS_KEY_ID")
        mp.delenv("AWS_SECRET_ACCESS_KEY")
        s3fs.S3FileSystem.clear_instance_cache()
        assert main(["predict", str(model), s3["table"], "-o", f"{s3['url']}/p.parquet"]) == 2
        err = capsys.readouterr().err
        assert "cannot reach the storage (NoCredentialsError" in err and err.count("\n") == 1
    s3fs.S3FileSystem.clear_instance_cache()
    # file:// URLs are local paths.
    out = tmp_path / "p.parquet"
    assert main(["predict", str(model), s3["table"], "-o", f"file://{out}", "--quiet"]) == 0
    assert pq.read_table(out).num_rows == 700
