"""The README.md of an N6 deployment bundle: its files, compiling the frontend, the on-target checks."""

from __future__ import annotations

from shardkit.audio.frontends import FrontendConfig

#: what each file of a bundle is
FILE_ROLES = {
    "shardkit_frontend_config.h": "every constant of this model's spectrogram contract (generated): sample rate, chunk, n_fft, hop, frames, rows, compression, floors, sparse mel filters, the INT8 input/output scale and zero point, class names, contract version",
    "shardkit_frontend.h": "the C99 frontend's API: `int shardkit_frontend(const float *chunk, float *out, float *work)`, buffer sizes `SHARDKIT_OUT_FLOATS`, `SHARDKIT_WORK_FLOATS`",
    "shardkit_frontend.c": "the portable C99 reference of the frontend (libm only, its own radix-2 real FFT, float32)",
    "shardkit_frontend_check.c": "a host program: float32 chunks in, features out (for checking the frontend against the vectors)",
    "validation.npz": "validation vectors: raw_chunks [n, N], float_inputs, int8_inputs, float_outputs, int8_outputs, keys, classes",
    "val_inputs.npy": "the vectors' model inputs in the .tflite's input shape and dtype (`stedgeai validate --valinput`)",
    "val_outputs.npy": "the .tflite's outputs on them, in its output shape and dtype (`--valoutput`)",
    "val_outputs_float.npy": "the float model's outputs on them",
    "README.md": "this file",
    "bundle.json": "the manifest, written last: every file's SHA-256, the model's SHA-256, contract version, tolerances",
}


def readme_text(model: str, frontend: FrontendConfig, boundaries: dict, files: list[str], vectors: int, tolerances: dict) -> str:
    """The bundle's README for ``model`` (the ``.tflite`` name) and its files."""
    q_in, q_out = boundaries["input"], boundaries["output"]
    rows = [f"| `{name}` | {FILE_ROLES.get(name, '')} |" for name in [*files, "bundle.json"]]
    return f"""# N6 deployment bundle of `{model}`

Written by `shardkit convert` beside `{model}`. `bundle.json` is written last; a folder without
it is incomplete. `shardkit.export.bundle.read_bundle(folder)` checks every file's SHA-256 and
the model's.

| file | what it is |
|---|---|
{chr(10).join(rows)}

Contract v{frontend.contract_version}: `{frontend.name}` frontend, compression `{frontend.compression}`,
{frontend.sample_rate_hz} Hz, {frontend.chunk_samples} samples per chunk, n_fft {frontend.n_fft}, hop
{frontend.hop_length}, {frontend.n_frames} frames. Model input: features in [0, 1], row-major
[rows, frames, 1]; first INT8 tensor scale {q_in["scale"]:.9g}, zero point {q_in["zero_point"]}
(the .tflite's input tensor is {q_in["tensor_dtype"]}); output scale {q_out["scale"]:.9g}, zero point
{q_out["zero_point"]} (output tensor {q_out["tensor_dtype"]}). {vectors} validation vectors.

## Compile the frontend

C99 and libm, nothing else. Add `shardkit_frontend.c` to the firmware with this folder on the
include path; give each caller its own `work` buffer of `SHARDKIT_WORK_FLOATS` floats
(`3.5 * n_fft + n_mels`) and an `out` buffer of `SHARDKIT_OUT_FLOATS`. It returns
`SHARDKIT_OK` (0), `SHARDKIT_ERR_NULL` or `SHARDKIT_ERR_NONFINITE` (a NaN or infinite sample).
Quantize its output for an INT8 input as `q = clamp(round(x / SHARDKIT_INPUT_SCALE) +
SHARDKIT_INPUT_ZERO_POINT, -128, 127)`.

```bash
cc -std=c99 -O2 -Wall -Werror -pedantic -I. -c shardkit_frontend.c            # what the tests compile
arm-none-eabi-gcc -std=c99 -O2 -mcpu=cortex-m55 -mfloat-abi=hard -I. -c shardkit_frontend.c
```

## Check the frontend against the vectors (host)

```bash
cc -std=c99 -O2 -I. shardkit_frontend_check.c shardkit_frontend.c -o frontend_check -lm
python -c "import numpy as np; np.load('validation.npz')['raw_chunks'].astype('<f4').tofile('chunks.f32')"
./frontend_check chunks.f32 features.f32
python -c "
import numpy as np
v = np.load('validation.npz')
c = np.fromfile('features.f32', '<f4').reshape(v['float_inputs'].shape)
print('max |C - float_inputs|', abs(c - v['float_inputs']).max())   # <= {tolerances["frontend_max_abs"]}
q = np.clip(np.round(c / {q_in["scale"]!r}) + {q_in["zero_point"]}, -128, 127)
print('max INT8 input step difference', abs(q - v['int8_inputs']).max())   # <= {tolerances["int8_input_lsb"]}
"
```

## Validate the model on an STM32N6 board

With ST Edge AI Core (`stedgeai`) installed and the board flashed with ST's NPU validation
firmware (ST's N6 scripts, e.g. `n6_loader.py` with its `config_n6.json`, build and load it),
connected over the ST-LINK virtual COM port:

```bash
stedgeai validate --model ../{model} --target stm32n6 \\
    --st-neural-art default@user_neuralart.json --mode target --desc serial:921600 \\
    --valinput val_inputs.npy --valoutput val_outputs.npy
```

(`--st-neural-art` takes your NPU profile, e.g. `default@user_neuralart.json`; `--desc`
your serial port and baud rate, e.g. `serial:COM4:921600`.) `--valinput` holds the
vectors' features in the model's input shape, `--valoutput` the `.tflite`'s outputs on them
(what LiteRT computes on a PC). Expected: the target's outputs within
{tolerances["int8_output_lsb"]} INT8 output step (scale {q_out["scale"]:.9g}) of `val_outputs.npy`; against the float
model (`val_outputs_float.npy`, rerun with `--valoutput val_outputs_float.npy`) cosine >=
{tolerances["target_vs_float_cosine_min"]} and MAE <= {tolerances["target_vs_float_mae_max"]:.6g} (1/256). `--mode host` runs the same check on a PC first.
"""
