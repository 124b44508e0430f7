"""Frontends as TensorFlow ops: the fast path of `shardkit.audio.frontends` (same contract).

Works on a batch ``[B, N]`` of float32 chunks and returns ``[B, rows, W]`` (``[B, N]`` for
raw). The same function serves the input pipeline (CPU), the deferred placement (the model's
first, non-trainable layer on the accelerator), calibration and evaluation. Tests hold it to
the numpy reference within 1e-3.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

from shardkit.audio.frontends import LOG_EPS, LOG_FLOOR_ABS, NORM_EPS, FrontendConfig, dct_matrix, mel_filters, periodic_hann

#: above this many hops per frame `frames` leaves framing to ``tf.signal.frame`` (one slice per hop)
MAX_SLICED_HOPS = 8


def frames(padded: tf.Tensor, frame_length: int, hop: int, keep: int | tf.Tensor) -> tf.Tensor:
    """The first ``keep`` frames ``[B, keep, frame_length]`` of ``padded`` ``[B, L]``, frame ``t`` at ``t * hop``.

    What ``tf.signal.frame(padded, frame_length, hop)[:, :keep]`` gives, bit for bit, for
    signals at least ``(keep - 1) * hop + frame_length`` long. ``tf.signal.frame`` gathers
    single samples when the hop does not divide the frame length (the contract's hop
    ``N // W`` = 281 with n_fft 512 does not), which cost about half of the hybrid frontend.
    Here the signal is cut into rows of ``hop`` samples and each frame is its next
    ``ceil(frame_length / hop)`` rows side by side: a reshape and a few slices.
    """
    per = -(-frame_length // hop)
    if per > MAX_SLICED_HOPS:
        return tf.signal.frame(padded, frame_length, hop)[:, :keep, :]
    rows = keep + per - 1
    needed = rows * hop
    padded = tf.pad(padded, [[0, 0], [0, tf.maximum(needed - tf.shape(padded)[1], 0)]])[:, :needed]
    blocks = tf.reshape(padded, [tf.shape(padded)[0], rows, hop])
    parts = [blocks[:, i : i + keep, :] for i in range(per)]
    parts[-1] = parts[-1][:, :, : frame_length - (per - 1) * hop]
    return tf.concat(parts, axis=2) if per > 1 else parts[0]


def stft_magnitude(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None = None) -> tf.Tensor:
    """``[B, N]`` → ``[B, n_fft/2, W]`` magnitude, centred zero-padded frames, no Nyquist bin.

    ``n_frames`` defaults to the contract's W; variable-length batches pass ``N // hop``.
    """
    pad = config.n_fft // 2
    padded = tf.pad(chunks, [[0, 0], [pad, pad]])
    keep = config.n_frames if n_frames is None else n_frames
    framed = frames(padded, config.n_fft, config.hop_length, keep)
    window = tf.constant(periodic_hann(config.n_fft), dtype=tf.float32)
    magnitude = tf.abs(tf.signal.rfft(framed * window))[..., : config.n_fft // 2]
    return tf.transpose(magnitude, [0, 2, 1])


def minmax(features: tf.Tensor, valid: tf.Tensor | None = None) -> tf.Tensor:
    """Scale each chunk of a batch ``[B, rows, W]`` to [0, 1].

    ``valid``: frames per chunk that are audio, not bucket padding (``[B]``); the range is
    taken over those only and the padded frames become 0, so a chunk's features do not
    depend on how far its bucket padded it.
    """
    axes = list(range(1, len(features.shape)))
    if valid is None:
        low = tf.reduce_min(features, axis=axes, keepdims=True)
        high = tf.reduce_max(features, axis=axes, keepdims=True)
        return (features - low) / (high - low + NORM_EPS)
    inside = (tf.range(tf.shape(features)[2])[tf.newaxis, :] < tf.cast(valid, tf.int32)[:, tf.newaxis])[:, tf.newaxis, :]
    low = tf.reduce_min(tf.where(inside, features, features.dtype.max), axis=axes, keepdims=True)
    high = tf.reduce_max(tf.where(inside, features, features.dtype.min), axis=axes, keepdims=True)
    return tf.where(inside, (features - low) / (high - low + NORM_EPS), 0.0)


def floored_log(magnitude: tf.Tensor, floor_db: float) -> tf.Tensor:
    """``log(max(m, peak * 10^(-floor_db / 20), LOG_FLOOR_ABS))``, the peak per chunk of the batch."""
    axes = list(range(1, len(magnitude.shape)))
    peak = tf.reduce_max(magnitude, axis=axes, keepdims=True)
    floor = tf.maximum(peak * (10.0 ** (-floor_db / 20.0)), LOG_FLOOR_ABS)
    return tf.math.log(tf.maximum(magnitude, floor))


#: compression name → function(magnitude batch, config), as in `shardkit.audio.frontends.COMPRESSIONS`
TF_COMPRESSIONS: dict[str, Callable[[tf.Tensor, FrontendConfig], tf.Tensor]] = {
    "none": lambda m, config: m,
    "sqrt": lambda m, config: tf.sqrt(m),
    "log": lambda m, config: floored_log(m, config.log_floor_db),
}


def compress(magnitude: tf.Tensor, config: FrontendConfig) -> tf.Tensor:
    """The configured compression of a batch of (mel) magnitudes."""
    return TF_COMPRESSIONS[config.compression](magnitude, config)


def _mel_magnitude(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None) -> tf.Tensor:
    filters = tf.constant(mel_filters(config), dtype=tf.float32)
    return tf.einsum("mf,bfw->bmw", filters, stft_magnitude(chunks, config, n_frames))


def hybrid(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None = None, valid: tf.Tensor | None = None) -> tf.Tensor:
    """Magnitude spectrogram, compressed and min-max normalised: ``[B, n_fft/2, W]``."""
    return minmax(compress(stft_magnitude(chunks, config, n_frames), config), valid)


def mel(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None = None, valid: tf.Tensor | None = None) -> tf.Tensor:
    """Slaney mel magnitude spectrogram, compressed and min-max normalised: ``[B, n_mels, W]``."""
    return minmax(compress(_mel_magnitude(chunks, config, n_frames), config), valid)


def mfcc(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None = None, valid: tf.Tensor | None = None) -> tf.Tensor:
    """MFCC (DCT-II of log mel power), min-max normalised: ``[B, n_mfcc, W]``."""
    log_mel = tf.math.log(tf.square(_mel_magnitude(chunks, config, n_frames)) + LOG_EPS)
    basis = tf.constant(dct_matrix(config.n_mfcc, config.n_mels), dtype=tf.float32)
    return minmax(tf.einsum("km,bmw->bkw", basis, log_mel), valid)


def raw(chunks: tf.Tensor, config: FrontendConfig, n_frames: int | tf.Tensor | None = None, valid: tf.Tensor | None = None) -> tf.Tensor:
    """The waveforms themselves: ``[B, N]``."""
    return tf.convert_to_tensor(chunks, dtype=tf.float32)


TF_FRONTENDS: dict[str, Callable[..., tf.Tensor]] = {"hybrid": hybrid, "mel": mel, "mfcc": mfcc, "raw": raw}


def tf_frontend(chunks: tf.Tensor | np.ndarray, config: FrontendConfig, variable_length: bool = False, valid: tf.Tensor | None = None) -> tf.Tensor:
    """Apply the configured frontend to a batch ``[B, N]`` of chunks.

    With ``variable_length`` the batch may be longer or shorter than the contract's chunk:
    the hop stays ``chunk_samples // n_frames`` and the width becomes ``N // hop``.
    ``valid`` (``[B]``, a padded batch's frames of audio per chunk) keeps the padding out of
    the min-max normalisation and zeroes the padded frames (`minmax`).
    """
    chunks = tf.convert_to_tensor(chunks, dtype=tf.float32)
    if chunks.shape.rank != 2:
        raise ValueError(f"tf_frontend expects a batch [B, N] of chunks; got shape {chunks.shape}")
    n_frames = tf.shape(chunks)[1] // config.hop_length if variable_length else None
    return TF_FRONTENDS[config.name](chunks, config, n_frames, valid)
