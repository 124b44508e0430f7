"""The console: TensorFlow's native start-up noise filtered, real errors kept; Keras bars only on a terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

#: what TensorFlow 2.21 prints on a CPU-only machine before any work (TF_CPP_MIN_LOG_LEVEL does not stop it)
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796288885.543294    4685 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.",
    "I0000 00:00:1796288885.543968    4685 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
    "I0000 00:00:1796288885.605529    4685 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.",
    "E0000 00:00:1796288891.787263    4685 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "W0000 00:00:1796288891.787263    4685 gpu_device.cc:2344] Cannot dlopen some GPU libraries.",
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
]
#: what must still reach the user
KEPT = [
    "E0000 00:00:1796288891.9    4685 onednn_conv.cc:77] Check failed: dtype() == expected_dtype",
    "F0000 00:00:1796288891.9    4685 allocator.cc:12] out of memory",
    "Traceback (most recent call last):",
    "Error: SHARDS 'x' does not exist",
]

SCRIPT = """
import os, subprocess, sys
from shardkit.console import NativeLogFilter
NativeLogFilter(2).start()
lines = sys.argv[1].split("\\n")
half = len(lines) // 2
os.write(2, ("\\n".join(lines[:half]) + "\\n").encode())           # this process, natively
subprocess.run([sys.executable, "-c", "import os, sys; os.write(2, sys.argv[1].encode())", "\\n".join(lines[half:]) + "\\n"])  # a child
sys.stderr.write("\\r 50%|#####     | progress")                     # a progress bar: no newline
sys.stderr.flush()
"""


def test_native_filter_drops_startup_noise_and_keeps_errors():
    mixed = [line for pair in zip(NOISE, KEPT + [""] * len(NOISE), strict=False) for line in pair if line]
    done = subprocess.run([sys.executable, "-c", SCRIPT, "\n".join(mixed)], capture_output=True, timeout=60)
    stderr = done.stderr.decode()
    assert done.returncode == 0, stderr
    for line in NOISE:
        assert line not in stderr
    for line in KEPT:
        assert line in stderr
    assert stderr.endswith("\r 50%|#####     | progress"), "a partial line that cannot be noise passes at once"


def _verbosity_seen(stdout) -> int:
    code = "from shardkit.console import keras_verbosity; import sys; sys.stderr.write(str(keras_verbosity(1)))"
    done = subprocess.run([sys.executable, "-c", code], stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)
    return int(done.stderr)


def test_keras_progress_bar_only_on_a_terminal():
    assert _verbosity_seen(subprocess.PIPE) == 2, "redirected: one line per epoch, no ANSI bar"
    leader, follower = pty.openpty()
    try:
        assert _verbosity_seen(follower) == 1, "a terminal: the live bar"
    finally:
        os.close(leader)
        os.close(follower)


def test_a_fatal_abort_still_shows_its_last_lines():
    """TensorFlow's fatal checks abort the process: what they wrote just before must not be lost."""
    script = (
        "import os\n"
        "from shardkit.console import NativeLogFilter\n"
        "NativeLogFilter(2).start()\n"
        f"os.write(2, {NOISE[1]!r}.encode() + b'\\n' + {KEPT[0]!r}.encode() + b'\\n')\n"
        "os.abort()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert KEPT[0] in done.stderr and NOISE[1] not in done.stderr, done.stderr
