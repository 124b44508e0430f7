"""What a person sees on the console: TensorFlow's start-up noise kept out, progress bars only on a terminal.

TensorFlow 2.21 writes its native (C++) logs through absl before logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` no longer silences them: oneDNN and CPU-feature notes, "could not
find cuda drivers", and on a machine without a GPU a red ``failed call to cuInit``. The
command line therefore filters file descriptor 2 itself (`NativeLogFilter`): it drops absl
INFO and WARNING lines and the known "no GPU here" errors, and passes everything else —
other errors, fatal checks, Python tracebacks — through unchanged. ``shardkit -v`` keeps
them all.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

#: environment defaults set before TensorFlow is imported (a value the user set is kept)
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR"}
#: Python loggers TensorFlow and Keras report through; only errors reach the console
QUIET_LOGGERS = ("tensorflow", "absl", "h5py")

#: a native log line that says nothing a user must act on
_NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] "  # absl INFO / WARNING
    rb"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] \S+:\d+\] "  # TSL's own INFO / WARNING
    rb"|To enable the following instructions: .*rebuild TensorFlow"  # 2nd line of cpu_feature_guard's note
    rb"|E\d{4} [^\]]*\] (failed call to cuInit|Unable to register cu\w+ factory)"  # no GPU on this machine
    rb")"
)
#: the start of a line that may become noise once its newline arrives (held back until then)
_MAYBE_NOISE = re.compile(rb"^(WARNING: All log|[IWE]\d|\d{4}-\d\d-\d\d |To enable the following)")


def is_noise(line: bytes) -> bool:
    """Whether a native log line (without its newline) is start-up noise."""
    return bool(_NOISE.match(line))


class NativeLogFilter:
    """Route file descriptor ``fd`` through a pipe and drop `is_noise` lines from it.

    Child processes (the converter, build workers) inherit the pipe and are filtered too.
    Partial lines that cannot be noise (progress bars ending in ``\\r``) pass at once.
    """

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self._saved: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "NativeLogFilter":
        """Start filtering; `stop` runs at interpreter exit."""
        sys.stderr.flush()
        self._saved = os.dup(self.fd)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, self.fd)
        os.close(write_fd)
        self._thread = threading.Thread(target=self._pump, args=(read_fd,), name="native-log-filter", daemon=True)
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Put the original descriptor back and let the pump drain what is left."""
        if self._saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, self.fd)  # closes this process's write end of the pipe
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # a child still holding the pipe must not block exit
        self._saved = None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._saved, view) :]

    def _pump(self, read_fd: int) -> None:
        pending = b""
        try:
            while chunk := os.read(read_fd, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
                if pending and not _MAYBE_NOISE.match(pending):
                    kept, pending = kept + pending, b""
                if kept and self._saved is not None:
                    self._write(kept)
            if pending and not is_noise(pending) and self._saved is not None:
                self._write(pending)
        except OSError:
            pass
        finally:
            os.close(read_fd)


def quiet_tensorflow(*, native: bool) -> None:
    """Keep TensorFlow's start-up logs off the console; call before TensorFlow is imported.

    Args:
        native: also filter native logs on file descriptor 2 (`NativeLogFilter`); only for a
            real process run, never inside a test runner that captures descriptors itself.
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if native:
        NativeLogFilter(2).start()


def keras_verbosity(requested: int) -> int:
    """Keras ``verbose`` for ``fit``: its progress bar (1) only on a terminal, else a line per epoch (2).

    The bar redraws with ANSI codes and backspaces, which fill a redirected log with garbage.
    """
    if requested == 1 and not sys.stdout.isatty():
        return 2
    return requested
