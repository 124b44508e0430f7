"""The teacher's part of a crop, on hand-made scores: windows, re-ranking, dropping, flags, the audit."""

from __future__ import annotations

import numpy as np
import pytest

from shardkit.ingest.salience import Segment
from shardkit.teacher.config import TeacherConfig
from shardkit.teacher.crops import Scored, choose, chunk_block, pool_windows, recording_audit, window_starts

LABELS = ["A a_Alpha", "B b_Beta", "Engine_Engine"]
SPECIES = np.array([True, True, False])
COLUMNS = {"alpha": 0, "beta": 1, "unmapped": None}


def config(**kw) -> TeacherConfig:
    return TeacherConfig(name="t", model="m", labels="l", **{"weight": 0.8, "min_prob": 0.1, "flag_threshold": 0.5, **kw})


def seg(start: float, score: float, rank: int) -> Segment:
    return Segment(start, 3.0, score, start + 1.5, rank, "salience")


def test_windows_cover_a_segment_and_stay_inside_the_file():
    assert window_starts(10.0, 3.0, 3.0, 60.0) == [10.0]
    assert window_starts(10.0, 1.0, 3.0, 60.0) == [9.0]  # centred on a short segment
    assert window_starts(0.0, 1.0, 3.0, 60.0) == [0.0]  # not before the file's start
    assert window_starts(58.5, 1.0, 3.0, 60.0) == [57.0]  # not past its end
    assert window_starts(0.0, 1.0, 3.0, 2.0) == [0.0]  # a file shorter than a window: padded by the reader
    assert window_starts(4.0, 7.0, 3.0, 60.0) == pytest.approx([4.0, 6.0, 8.0])  # 3 windows from start to end


def test_pooling_takes_the_max_per_label_and_the_mean_embedding():
    probs = np.array([[0.1, 0.9, 0.0], [0.6, 0.2, 0.0], [0.3, 0.3, 0.3]])
    emb = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    pooled, embs = pool_windows(probs, emb, [2, 1])
    assert pooled.tolist() == [[0.6, 0.9, 0.0], [0.3, 0.3, 0.3]]
    assert embs[0].tolist() == [2.0, 1.0] and embs[1].tolist() == [5.0, 5.0]


def test_the_teacher_reranks_a_mapped_class_and_drops_what_it_does_not_hear():
    # salience prefers the first two (a loud distractor); the teacher hears alpha in the third and fourth
    scored = [
        Scored(seg(0, 40.0, 0), np.array([0.01, 0.0, 0.9]), None),
        Scored(seg(5, 30.0, 1), np.array([0.05, 0.0, 0.0]), None),
        Scored(seg(10, 12.0, 2), np.array([0.95, 0.0, 0.0]), None),
        Scored(seg(15, 20.0, 3), np.array([0.60, 0.0, 0.0]), None),
    ]
    chosen, ranked = choose(scored, 0, config(), keep=3)
    assert ranked
    assert [c.segment.start_s for c in chosen] == [10, 15]  # both under min_prob dropped, though keep=3
    assert [c.segment.rank for c in chosen] == [0, 1] and {c.segment.picked_by for c in chosen} == {"teacher"}
    assert chosen[0].combined == pytest.approx(0.8 * 0.95 + 0.2 * 12 / 40)
    # weight 0: the salience order among the candidates the teacher hears
    chosen, _ = choose(scored, 0, config(weight=0.0), keep=3)
    assert [c.segment.start_s for c in chosen] == [15, 10]


def test_salience_order_is_kept_when_the_teacher_hears_nothing_or_the_class_is_unmapped():
    scored = [Scored(seg(0, 40.0, 0), np.array([0.01, 0.0, 0.0]), None), Scored(seg(5, 30.0, 1), np.array([0.02, 0.0, 0.0]), None)]
    for column in (0, None):
        chosen, ranked = choose(scored, column, config(), keep=1)
        assert not ranked and [c.segment.start_s for c in chosen] == [0] and chosen[0].segment.picked_by == "salience"


def test_flags_look_at_species_labels_only():
    cfg = config()
    engine = np.array([0.01, 0.02, 0.97])
    block = chunk_block(engine, LABELS, SPECIES, cfg, COLUMNS, "noise", True, None)
    assert block["flag"] is None and block["max_p"] == pytest.approx(0.02) and block["top"][0] == ["Engine_Engine", 0.97]
    bird_in_noise = np.array([0.7, 0.0, 0.1])
    assert chunk_block(bird_in_noise, LABELS, SPECIES, cfg, COLUMNS, "noise", True, None)["flag"] == "teacher_hears_bird"
    beta_in_alpha = np.array([0.2, 0.8, 0.0])
    block = chunk_block(beta_in_alpha, LABELS, SPECIES, cfg, COLUMNS, "alpha", False, 0.4)
    assert block["flag"] == "label_conflict" and block["combined"] == 0.4
    assert block["probs"] == {"alpha": 0.2, "beta": 0.8, "unmapped": None}
    assert chunk_block(np.array([0.2, 0.45, 0.0]), LABELS, SPECIES, cfg, COLUMNS, "alpha", False, None)["flag"] is None  # under the threshold
    assert chunk_block(beta_in_alpha, LABELS, SPECIES, cfg, COLUMNS, "unmapped", False, None)["flag"] is None  # nothing to conflict with


def test_the_audit_names_a_recording_whose_strongest_species_is_another():
    cfg = config()
    scored = [Scored(seg(0, 9, 0), np.array([0.1, 0.3, 0.0]), None), Scored(seg(5, 8, 1), np.array([0.2, 0.9, 0.99]), None)]
    entry = recording_audit("alpha/x.flac", "alpha", scored, LABELS, SPECIES, 0, cfg)
    assert entry == {"source": "alpha/x.flac", "class": "alpha", "teacher_top1": "B b_Beta", "confidence": 0.9, "class_p": 0.2}
    assert recording_audit("beta/x.flac", "beta", scored, LABELS, SPECIES, 1, cfg) is None  # agrees
    assert recording_audit("u/x.flac", "unmapped", scored, LABELS, SPECIES, None, cfg) is None
    assert recording_audit("alpha/x.flac", "alpha", scored, LABELS, SPECIES, 0, config(flag_threshold=0.95)) is None
