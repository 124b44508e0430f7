"""The N6 compatibility report of a converted ``.tflite`` model: its ops, broken rules, memory.

`n6_report` reads the flatbuffer (``ai_edge_litert``'s schema, no interpreter) and checks,
op by op, what `shardkit.model.n6` checks layer by layer on the Keras model: every op is one
the STM32N6 NPU runs in INT8 (`ALLOWED_OPS`, fused activations NONE or RELU only), every
tensor flowing between ops is INT8 (float32 model I/O is fine: QUANTIZE on the model input,
DEQUANTIZE on the model output; an int8 → int8 QUANTIZE, which the converter inserts to
requantize before a CONCATENATION, is integer-only and allowed), conv and dense output
channels are multiples of `CHANNEL_MULTIPLE` (the classifier head, and a depthwise conv that keeps
its input's channels, are exempt), and no stride
in an op's builtin options exceeds `MAX_STRIDE`. It also estimates memory: constant
(weight) bytes, the largest op output, and the peak of live activations over the ops in
execution order (the model input counted as fed: 4 bytes a value for float32 I/O).

Layer names: tensor names of a converted Keras model are ``;``-joined TF op paths such as
``net_1/stem_relu_1/Relu;net_1/stem_1/convolution``. Keras scopes carry a ``_N`` suffix that
graph tracing appends (a layer named ``conv_1`` shows as ``conv_1_1``, one named ``conv`` as
``conv_1`` or ``conv_2``); when every path's outer (model) scope has one, one suffix is
stripped from the innermost suffixed scope, which names the layer. An
op's `OpInfo.layer` is the layer whose TF op is the TFLite op's own computation (the conv of
a conv+ReLU), else the first layer that is not a fused activation; `OpInfo.layers` lists
every layer fused into the op. Outputs renamed to the model's signature (the last LOGISTIC,
DEQUANTIZE) take the layer of their weights or, failing that, of the op feeding them.

Dependencies: only ``ai_edge_litert``'s flatbuffer schema, no TensorFlow or Keras; `N6Violation`
and the rule constants come from `shardkit.n6_rules`, the one definition of the rules.
Only the main subgraph is read; the project's models have one input and one output.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import cached_property

from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools.flatbuffer_utils import convert_bytearray_to_object

from shardkit.errors import ConfigError
from shardkit.n6_rules import ALLOWED_FUSED_ACTIVATIONS, ALLOWED_OPS, CHANNEL_MULTIPLE, MAX_STRIDE, N6Violation

#: ops whose output channel count must be a multiple of CHANNEL_MULTIPLE
CHANNEL_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
#: ops allowed between the classifier head's FULLY_CONNECTED and the model output
HEAD_TAIL_OPS = frozenset({"LOGISTIC", "SOFTMAX", "DEQUANTIZE", "QUANTIZE", "RESHAPE"})

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_DTYPES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}
_ACTIVATIONS = {code: name for name, code in vars(schema.ActivationFunctionType).items() if not name.startswith("_")}
_ITEM_BYTES = {
    "float64": 8,
    "int64": 8,
    "uint64": 8,
    "complex64": 8,
    "complex128": 16,
    "float32": 4,
    "int32": 4,
    "uint32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int16": 2,
    "uint16": 2,
}
#: TF op names (lowercased, digits stripped) that are an op's own computation, per TFLite op
_OWN_TF_OPS = {
    "CONV_2D": ("convolution", "conv2d"),
    "DEPTHWISE_CONV_2D": ("depthwise",),
    "FULLY_CONNECTED": ("matmul", "tensordot", "biasadd"),
    "MAX_POOL_2D": ("maxpool",),
    "AVERAGE_POOL_2D": ("avgpool",),
    "MEAN": ("mean",),
}
#: TF op names of activations, and of what else fuses into an op: never an op's primary layer
_ACTIVATION_TF_OPS = ("relu", "sigmoid", "tanh", "leakyrelu", "elu", "selu", "gelu", "softplus", "minimum", "maximum", "clip")
_FUSED_TF_OPS = (*_ACTIVATION_TF_OPS, "identity", "const")
_SCOPE_SUFFIX = re.compile(r"^(.+)_\d+$")


@dataclass(frozen=True)
class OpInfo:
    """One TFLite op in execution order, with the Keras layer(s) it came from."""

    index: int
    op: str
    layer: str
    layers: tuple[str, ...]
    output_shape: tuple[int, ...]
    output_dtype: str


@dataclass(frozen=True)
class Activation:
    """One activation tensor: the layer producing it, its shape and size."""

    layer: str
    shape: tuple[int, ...]
    bytes: int


@dataclass
class N6Report:
    """What `n6_report` found in one ``.tflite`` model.

    Attributes:
        ops: every op in execution order.
        violations: every broken N6 rule, naming the Keras layer.
        input_shape, input_dtype, input_bytes: the model's input tensor as fed (float32 I/O:
            the float size, not the quantized one).
        output_shape, output_dtype: the model's output tensor.
        largest_activation: the largest op output.
        weight_bytes: constant buffers (weights, biases, shape and axis constants), each once.
        peak_activation_bytes: activation memory by a liveness walk over the ops in execution
            order: at each op, the tensors produced so far (the model input included) that it, a
            later op or the model output still needs, plus its outputs; the maximum over ops.
        op_counts: op name → count.
    """

    ops: list[OpInfo]
    violations: list[N6Violation]
    input_shape: tuple[int, ...]
    input_dtype: str
    input_bytes: int
    output_shape: tuple[int, ...]
    output_dtype: str
    largest_activation: Activation
    weight_bytes: int
    peak_activation_bytes: int
    op_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no N6 rule is broken."""
        return not self.violations

    def to_dict(self) -> dict:
        """The report as JSON-ready plain types (``ok`` included)."""
        return {"ok": self.ok, **asdict(self)}


class _Graph:
    """The main subgraph of a parsed model, with the look-ups the rules share."""

    def __init__(self, model: schema.ModelT) -> None:
        self.model = model
        self.subgraph = model.subgraphs[0]
        self.tensors = self.subgraph.tensors or []
        self.operators = self.subgraph.operators or []
        self.inputs = [int(t) for t in self.subgraph.inputs]
        self.outputs = [int(t) for t in self.subgraph.outputs]
        self.op_names = [self._op_name(op) for op in self.operators]
        self.producer = {int(t): i for i, op in enumerate(self.operators) for t in op.outputs if t >= 0}
        self.suffixed = _has_scope_suffix(self)

    def _op_name(self, op: schema.OperatorT) -> str:
        code = self.model.operatorCodes[op.opcodeIndex]
        name = _OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode), "UNKNOWN")
        return f"CUSTOM:{(code.customCode or b'').decode()}" if name == "CUSTOM" else name

    def name(self, t: int) -> str:
        name = self.tensors[t].name
        return name.decode() if isinstance(name, bytes) else str(name or "")

    def shape(self, t: int) -> tuple[int, ...]:
        shape = self.tensors[t].shape
        return () if shape is None else tuple(int(n) for n in shape)

    def dtype(self, t: int) -> str:
        return _DTYPES.get(self.tensors[t].type, "unknown")

    def nbytes(self, t: int) -> int:
        return math.prod(self.shape(t)) * _ITEM_BYTES.get(self.dtype(t), 1)

    def buffer_bytes(self, t: int) -> int:
        buffer = self.model.buffers[self.tensors[t].buffer] if self.tensors[t].buffer else None
        if buffer is None:
            return 0
        return len(buffer.data) if buffer.data is not None else int(buffer.size or 0)

    def is_constant(self, t: int) -> bool:
        return self.buffer_bytes(t) > 0

    def data_inputs(self, index: int) -> list[int]:
        return [int(t) for t in self.operators[index].inputs if t >= 0 and not self.is_constant(int(t))]

    def constant_inputs(self, index: int) -> list[int]:
        return [int(t) for t in self.operators[index].inputs if t >= 0 and self.is_constant(int(t))]

    def op_outputs(self, index: int) -> list[int]:
        return [int(t) for t in self.operators[index].outputs if t >= 0]

    @cached_property
    def heads(self) -> set[int]:
        """Indices of the FULLY_CONNECTED ops whose output reaches a model output (via HEAD_TAIL_OPS)."""
        found = set()
        for t in self.outputs:
            index = self.producer.get(t)
            while index is not None and self.op_names[index] in HEAD_TAIL_OPS and self.data_inputs(index):
                index = self.producer.get(self.data_inputs(index)[0])
            if index is not None and self.op_names[index] == "FULLY_CONNECTED":
                found.add(index)
        return found


# ----- layer names ---------------------------------------------------------------------------


def _has_scope_suffix(graph: _Graph) -> bool:
    """Whether Keras scopes carry a tracing suffix: every path's outer (model) scope ends in ``_N``."""
    scopes = [part.split("/")[0] for t in range(len(graph.tensors)) for part in graph.name(t).split(";") if "/" in part]
    return bool(scopes) and all(_SCOPE_SUFFIX.match(scope) for scope in scopes)


def _part_layer(part: str, suffixed: bool) -> str | None:
    """The Keras layer of one TF op path (``model_1/conv_1/convolution`` → ``conv``), None without a path."""
    scopes = part.split("/")[:-1]
    if not scopes:
        return None
    if suffixed:
        for scope in reversed(scopes):
            match = _SCOPE_SUFFIX.match(scope)
            if match:
                return match.group(1)
    return scopes[-1]


def _tf_op(part: str) -> str:
    return re.sub(r"[\d_]+$", "", part.split("/")[-1].lower())


def _name_layers(name: str, op: str, suffixed: bool) -> tuple[str, ...]:
    """The layers of a (possibly fused) tensor name, the op's primary layer first."""
    parts = [part for part in name.split(";") if _part_layer(part, suffixed) is not None]
    own_tf_ops = _OWN_TF_OPS.get(op)
    own = [part for part in parts if own_tf_ops and _tf_op(part).startswith(own_tf_ops)]
    unfused = [part for part in parts if not _tf_op(part).startswith(_FUSED_TF_OPS)]
    ordered = own + unfused + parts
    return tuple(dict.fromkeys(_part_layer(part, suffixed) for part in ordered))


def _op_layers(graph: _Graph, index: int, known: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The op's layers from its output name, else its weights' names, else the op feeding it."""
    op = graph.op_names[index]
    for t in graph.op_outputs(index) + graph.constant_inputs(index):
        layers = _name_layers(graph.name(t), op, graph.suffixed)
        if layers:
            return layers
    for t in graph.data_inputs(index):
        if t in graph.producer:
            return known[graph.producer[t]][:1]
    first = graph.data_inputs(index)[:1] or graph.op_outputs(index)[:1]
    return (re.sub(r"^serving_default_|:\d+$", "", graph.name(first[0])),) if first else (f"op{index}",)


# ----- rules ---------------------------------------------------------------------------------


def _op_rule(graph: _Graph, index: int, info: OpInfo) -> list[N6Violation]:
    if info.op in ALLOWED_OPS:
        return []
    return [N6Violation(info.layer, "op not run by the NPU", f"{info.op} would fall back to the MCU")]


def _fused_activation_rule(graph: _Graph, index: int, info: OpInfo) -> list[N6Violation]:
    code = getattr(graph.operators[index].builtinOptions, "fusedActivationFunction", 0)
    activation = _ACTIVATIONS.get(code, str(code))
    if activation in ALLOWED_FUSED_ACTIVATIONS:
        return []
    names = [part for t in graph.op_outputs(index) for part in graph.name(t).split(";") if _tf_op(part).startswith(_ACTIVATION_TF_OPS)]
    layer = next((_part_layer(part, graph.suffixed) for part in names if _part_layer(part, graph.suffixed)), info.layer)
    return [
        N6Violation(
            layer, "activation not run by the NPU", f"{activation} fused into {info.op} of layer {info.layer!r} (allowed: {sorted(ALLOWED_FUSED_ACTIVATIONS)})"
        )
    ]


def _int8_rule(graph: _Graph, index: int, info: OpInfo) -> list[N6Violation]:
    inputs, outputs = graph.data_inputs(index), graph.op_outputs(index)
    if info.op == "QUANTIZE":
        inputs = [t for t in inputs if t not in graph.inputs]  # float → int8 on the model input is the edge
    if info.op == "DEQUANTIZE":
        outputs = [t for t in outputs if t not in graph.outputs]  # int8 → float on the model output is the edge
    found = [f"input {graph.dtype(t)}" for t in inputs if graph.dtype(t) != "int8"]
    found += [f"constant {graph.dtype(t)}" for t in graph.constant_inputs(index) if graph.dtype(t) not in ("int8", "int32")]
    found += [f"output {graph.dtype(t)}" for t in outputs if graph.dtype(t) != "int8"]
    if not found:
        return []
    where = " inside the model (only its input and output may be float)" if info.op in ("QUANTIZE", "DEQUANTIZE") else ""
    return [N6Violation(info.layer, "not INT8", f"{info.op}{where}: {', '.join(dict.fromkeys(found))} tensors")]


def _channels_rule(graph: _Graph, index: int, info: OpInfo) -> list[N6Violation]:
    if info.op not in CHANNEL_OPS or not info.output_shape or index in graph.heads:
        return []
    channels = info.output_shape[-1]
    if channels % CHANNEL_MULTIPLE == 0:
        return []
    if info.op == "DEPTHWISE_CONV_2D" and channels == graph.tensors[graph.operators[index].inputs[0]].shape[-1]:
        return []  # keeps its input's channels (as in the Keras check): the op that chose them answers for them
    return [N6Violation(info.layer, f"channels not a multiple of {CHANNEL_MULTIPLE}", f"{channels} output channels ({info.op})")]


def _stride_rule(graph: _Graph, index: int, info: OpInfo) -> list[N6Violation]:
    options = graph.operators[index].builtinOptions
    strides = (getattr(options, "strideH", None), getattr(options, "strideW", None))
    if None in strides or max(strides) <= MAX_STRIDE:
        return []
    return [N6Violation(info.layer, f"stride above {MAX_STRIDE}", f"strides={strides} ({info.op})")]


#: every rule checked on every op, in report order
RULES = (_op_rule, _fused_activation_rule, _int8_rule, _channels_rule, _stride_rule)


# ----- memory --------------------------------------------------------------------------------


def _peak_activation_bytes(graph: _Graph) -> int:
    """Max over ops of: produced tensors still needed (by this or a later op, or as output) + the op's outputs."""
    end = len(graph.operators)
    last_use = {t: end for t in graph.outputs}
    for index in range(end):
        for t in graph.data_inputs(index):
            last_use[t] = max(last_use.get(t, -1), index)
    live, peak = set(graph.inputs), sum(graph.nbytes(t) for t in graph.inputs)
    for index in range(end):
        produced = graph.op_outputs(index)
        needed = {t for t in live if last_use.get(t, -1) >= index}
        peak = max(peak, sum(graph.nbytes(t) for t in needed | set(produced)))
        live = {t for t in needed if last_use[t] > index} | set(produced)
    return peak


# ----- the report ----------------------------------------------------------------------------


def _read(model: bytes | str | os.PathLike[str]) -> bytes:
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as handle:
            content = handle.read()
    elif isinstance(model, (bytes, bytearray, memoryview)):
        content = bytes(model)
    else:
        raise ConfigError(f"model must be the bytes of a .tflite model or a local path; got {type(model).__name__}")
    if content[4:8] != b"TFL3":
        source = f"file {os.fspath(model)!r}" if isinstance(model, (str, os.PathLike)) else f"{len(content)} bytes"
        raise ConfigError(f"model must be a TFLite flatbuffer (file identifier b'TFL3' at bytes 4-8); got {source} starting {content[:8]!r}")
    return content


def n6_report(model: bytes | str | os.PathLike[str]) -> N6Report:
    """The N6 compatibility report of a converted model.

    Args:
        model: the bytes of a ``.tflite`` flatbuffer, or a local path to one.

    Returns:
        Its ops, every N6 rule it breaks (`N6Violation`, naming the Keras layer), its I/O,
        weight bytes, largest activation and estimated peak activation bytes.

    Raises:
        ConfigError: ``model`` is neither bytes nor a path, or is not a TFLite flatbuffer.
        FileNotFoundError: the path does not exist.
    """
    graph = _Graph(convert_bytearray_to_object(_read(model)))
    ops: list[OpInfo] = []
    known: list[tuple[str, ...]] = []
    for index, op in enumerate(graph.op_names):
        known.append(_op_layers(graph, index, known))
        out = graph.op_outputs(index)[:1]
        ops.append(OpInfo(index, op, known[index][0], known[index], graph.shape(out[0]) if out else (), graph.dtype(out[0]) if out else ""))
    violations = [violation for info in ops for rule in RULES for violation in rule(graph, info.index, info)]
    activations = [Activation(info.layer, graph.shape(t), graph.nbytes(t)) for info in ops for t in graph.op_outputs(info.index)]
    constants = {graph.tensors[t].buffer: graph.buffer_bytes(t) for t in range(len(graph.tensors)) if graph.is_constant(t)}
    first_in, first_out = graph.inputs[0], graph.outputs[0]
    return N6Report(
        ops=ops,
        violations=violations,
        input_shape=graph.shape(first_in),
        input_dtype=graph.dtype(first_in),
        input_bytes=graph.nbytes(first_in),
        output_shape=graph.shape(first_out),
        output_dtype=graph.dtype(first_out),
        largest_activation=max(activations, key=lambda a: a.bytes, default=Activation("", (), 0)),
        weight_bytes=sum(constants.values()),
        peak_activation_bytes=_peak_activation_bytes(graph),
        op_counts=dict(Counter(info.op for info in ops)),
    )


def format_n6_report(report: N6Report, show_ops: bool = False) -> str:
    """A few readable lines: verdict, I/O, op counts, memory, one line per violation.

    Args:
        report: what `n6_report` returned.
        show_ops: also list every op with its layer, output shape and dtype.
    """
    verdict = "OK" if report.ok else f"{len(report.violations)} violation(s)"
    largest = report.largest_activation
    lines = [
        f"N6 report: {verdict}",
        f"  input {report.input_shape} {report.input_dtype} ({report.input_bytes} bytes); output {report.output_shape} {report.output_dtype}",
        f"  {len(report.ops)} ops: " + ", ".join(f"{op} x{count}" for op, count in sorted(report.op_counts.items())),
        f"  weights {report.weight_bytes} bytes; peak activations ~{report.peak_activation_bytes} bytes; "
        f"largest activation {largest.bytes} bytes ({largest.layer!r}, {largest.shape})",
    ]
    if show_ops:
        lines += [f"    {info.index:3d} {info.op:<18} {info.layer:<32} {info.output_shape} {info.output_dtype}" for info in report.ops]
    lines += [f"  violation: {violation}" for violation in report.violations]
    return "\n".join(lines)
