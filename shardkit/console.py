"""What a person sees on the console: TensorFlow's start-up noise kept out, progress bars only on a terminal.

TensorFlow 2.21 writes its native (C++) logs through absl before logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` no longer silences them: oneDNN and CPU-feature notes, "could not
find cuda drivers", and on a machine without a GPU a red ``failed call to cuInit``; LiteRT
announces its XNNPACK delegate. The
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
import signal
import subprocess
import sys

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
    rb"|INFO: (Created|Initialized) TensorFlow Lite"  # LiteRT's interpreter start (XNNPACK delegate)
    rb")"
)
#: the start of a line that may become noise once its newline arrives (held back until then)
_MAYBE_NOISE = re.compile(rb"^(WARNING: All log|INFO: |[IWE]\d|\d{4}-\d\d-\d\d |To enable the following)")


def is_noise(line: bytes) -> bool:
    """Whether a native log line (without its newline) is start-up noise."""
    return bool(_NOISE.match(line))


def filter_stream(read_fd: int = 0, write_fd: int = 1) -> None:
    """Copy ``read_fd`` to ``write_fd`` until end of file, dropping `is_noise` lines.

    Partial lines that cannot be noise (a progress bar ending in ``\\r``) pass at once; a
    partial line that may be noise waits for its newline.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the command, which then closes the pipe

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view) :]

    pending = b""
    while chunk := os.read(read_fd, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_noise(line))
        if pending and not _MAYBE_NOISE.match(pending):
            kept, pending = kept + pending, b""
        if kept:
            write(kept)
    if pending and not is_noise(pending):
        write(pending)


class NativeLogFilter:
    """Route file descriptor ``fd`` through `filter_stream` in a small child process.

    A child process, not a thread: when TensorFlow aborts the command (a fatal check), the
    child still gets everything written before the abort and passes it on. Child processes of
    the command (the converter, build workers) inherit the pipe and are filtered too.
    """

    def __init__(self, fd: int = 2) -> None:
        self.fd = fd
        self._saved: int | None = None
        self._child: subprocess.Popen | None = None

    def start(self) -> NativeLogFilter:
        """Start filtering; `stop` runs at interpreter exit."""
        sys.stderr.flush()
        package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = f"import sys; sys.path.insert(0, {package_parent!r}); from shardkit.console import filter_stream; filter_stream(0, 1)"
        self._saved = os.dup(self.fd)
        read_fd, write_fd = os.pipe()
        try:  # -I -S: stdlib only, whatever the environment says; the filter needs nothing else
            self._child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", code], stdin=read_fd, stdout=self._saved, stderr=self._saved, start_new_session=True, close_fds=True
            )
        except OSError:  # no filter rather than no command
            for fd in (read_fd, write_fd, self._saved):
                os.close(fd)
            self._saved = None
            return self
        os.close(read_fd)
        os.dup2(write_fd, self.fd)
        os.close(write_fd)
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Put the original descriptor back and let the child pass on what is left."""
        if self._saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, self.fd)  # closes this process's write end of the pipe
        os.close(self._saved)
        self._saved = None
        try:
            self._child.wait(timeout=2.0)  # a grandchild still holding the pipe must not block exit
        except subprocess.TimeoutExpired:
            pass


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
