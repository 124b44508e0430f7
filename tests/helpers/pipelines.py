"""A tiny pipeline file (the tiny training run of `helpers.training`, every stage on), to format with input, work and qat_epochs."""

from __future__ import annotations

TINY = """
[pipeline]
name = "tiny"
input = "{input}"
work = "{work}"

[build]
codec = "pcm16"
shard_max_samples = 8
val_fraction = 0.25
workers = 2

[train]
chunk_s = 1.0
n_fft = 128
n_frames = 32
n_mels = 16
n_mfcc = 8
architecture = "dscnn_lite"
alpha = 0.25
embeddings_size = 32
batch_size = 8
epochs = 2
learning_rate = 3e-3

[qat]
epochs = {qat_epochs}
batch_size = 8
calibration_samples = 40

[convert]
calibration_samples = 40
gate_samples = 20
min_cosine_mean = 0.5
min_cosine_p5 = 0.5
# two epochs on this corpus leave a collapsed model (per-class score std ~3e-4 on its 9 val
# chunks); these runs test the pipeline's mechanics, so the model-quality gates are waived
min_score_std = 0.0
min_rank_agreement = 0.0
max_output_mae = 1.0
"""
