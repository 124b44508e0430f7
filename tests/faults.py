"""Storage faults on loopback: an endpoint that accepts and never answers, and an S3 server that can be stopped and restarted."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def silent_endpoint() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a server that accepts TCP connections, reads, and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)  # never read from, never answered, never closed until the end

    thread = threading.Thread(target=accept, name="silent-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StoppableS3:
    """A moto S3 server on 127.0.0.1 that a test stops mid-run and starts again.

    Stopping closes the listening socket and cuts every open connection, so a client's pooled
    keep-alive connections meet a dead endpoint too. Each start serves on a fresh port (binding
    the old one again can fail while its cut connections linger) and `endpoint` follows it.
    moto keeps its buckets in process memory, so objects written before a stop are there after
    the restart, as on a real endpoint that comes back.
    """

    def __init__(self) -> None:
        self.endpoint = ""
        self._server = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def start(self) -> None:
        """Serve on a new port; a failure to bind raises here (moto's own server waits forever instead)."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        connections = self._connections

        class Handler(MotoRequestHandler):
            def setup(self) -> None:
                super().setup()
                connections.add(self.connection)

            def finish(self) -> None:
                connections.discard(self.connection)
                super().finish()

        self._server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True, request_handler=Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="stoppable-s3", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: new connections are refused and open ones are cut from now on."""
        if self._server is None:
            return
        self._server.shutdown()  # serve_forever returns and closes the listening socket
        self._thread.join(10)
        for conn in list(self._connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server = None

    def create_bucket(self) -> str:
        """A new, empty bucket."""
        import boto3

        bucket = f"faults-{os.urandom(4).hex()}"
        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
            Bucket=bucket
        )
        return bucket

    def options(self, **extra) -> dict:
        """Storage options for this endpoint (credentials included), plus ``extra``."""
        return {"endpoint_url": self.endpoint, "key": "testing", "secret": "testing", **extra}


#: short timeouts and no botocore retries, so tests of a dead endpoint finish in about a second
FAST_FAIL = {"config_kwargs": {"connect_timeout": 0.5, "read_timeout": 0.5, "retries": {"max_attempts": 0}}}
