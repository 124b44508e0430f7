"""The manifest contract's own consistency: a class list that contradicts the split counts."""

from __future__ import annotations

from shardkit.manifest import class_list_problem


def manifest(classes: list[str], negatives: list[str], counts: dict[str, int]) -> dict:
    return {"classes": classes, "negative_classes": negatives, "splits": {"train": {"classes": counts}, "val": {"classes": {}}}}


def test_consistent_class_lists_pass():
    assert class_list_problem(manifest(["a", "b"], ["noise"], {"a": 3, "b": 1, "noise": 2})) is None
    assert class_list_problem(manifest(["a", "b"], [], {"a": 3})) is None, "a listed class without samples is fine"


def test_a_counted_class_missing_from_the_lists_is_named():
    problem = class_list_problem(manifest(["a"], ["noise"], {"a": 3, "b": 1, "noise": 2}))
    assert problem is not None and "['b']" in problem and "classes ['a']" in problem
