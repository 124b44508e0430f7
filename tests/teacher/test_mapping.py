"""Class folders → teacher labels: by scientific or common name, a mapping file, unmapped and ambiguous classes."""

from __future__ import annotations

import pytest

from shardkit.errors import ConfigError
from shardkit.teacher.mapping import map_classes, normalise, read_mapping_file

LABELS = [
    "Turdus merula_Eurasian Blackbird",
    "Turdus philomelos_Song Thrush",
    "Agelaius phoeniceus_Red-winged Blackbird",
    "Cuculus canorus_Common Cuckoo",
    "Engine_Engine",
    "Fakeus one_Twin Name",
    "Fakeus two_Twin Name",
]


def test_names_match_ignoring_case_spaces_underscores_and_hyphens():
    mapping = map_classes(["turdus_merula", "song thrush", "RED-WINGED blackbird", "Cuculus canorus_Common Cuckoo"], LABELS)
    assert mapping.labels == {
        "turdus_merula": "Turdus merula_Eurasian Blackbird",
        "song thrush": "Turdus philomelos_Song Thrush",
        "RED-WINGED blackbird": "Agelaius phoeniceus_Red-winged Blackbird",
        "Cuculus canorus_Common Cuckoo": "Cuculus canorus_Common Cuckoo",
    }
    assert mapping.unmapped == []
    assert normalise(" Red-winged_Black bird ") == "redwingedblackbird"


def test_no_match_and_ambiguous_names_are_unmapped_with_the_reason():
    mapping = map_classes(["blackbird", "twin name", "kiwi"], LABELS)
    assert mapping.unmapped == ["blackbird", "kiwi", "twin name"]  # "blackbird" is a part of no label, only a substring
    assert mapping.how["kiwi"] == "no teacher label matches the name"
    assert mapping.how["twin name"].startswith("ambiguous") and "Fakeus one_Twin Name" in mapping.how["twin name"]


def test_a_mapping_file_wins_and_may_unmap_on_purpose(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("class,teacher_label\n# comment\nblackbird,Turdus merula\nsong thrush,\n\ntwin name,Fakeus two\n")
    file_map = read_mapping_file(str(path))
    assert file_map == {"blackbird": "Turdus merula", "song thrush": None, "twin name": "Fakeus two"}
    mapping = map_classes(["blackbird", "song thrush", "twin name", "Common Cuckoo"], LABELS, file_map)
    assert mapping.labels == {
        "Common Cuckoo": "Cuculus canorus_Common Cuckoo",
        "blackbird": "Turdus merula_Eurasian Blackbird",
        "song thrush": None,
        "twin name": "Fakeus two_Twin Name",
    }
    assert mapping.how["blackbird"] == "mapping file" and mapping.how["song thrush"] == "unmapped in the mapping file"


@pytest.mark.parametrize(
    ("rows", "classes", "message"),
    [
        ("kiwi,Turdus merula\n", ["blackbird"], "names classes ['kiwi'] that are not class folders"),
        ("blackbird,Turdus maximus\n", ["blackbird"], "maps 'blackbird' to 'Turdus maximus', which matches no teacher label"),
        ("blackbird,Twin Name\n", ["blackbird"], "which matches 2 teacher labels"),
    ],
)
def test_a_mapping_file_that_cannot_be_followed_is_refused(tmp_path, rows, classes, message):
    path = tmp_path / "map.csv"
    path.write_text(rows)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        map_classes(classes, LABELS, read_mapping_file(str(path)))


def test_a_malformed_or_missing_mapping_file_is_named(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("class,teacher_label\nblackbird,Turdus merula,extra\n")
    with pytest.raises(ConfigError, match=r"map.csv' line 2: a row must be 'class,teacher_label'"):
        read_mapping_file(str(path))
    with pytest.raises(ConfigError, match="no such file"):
        read_mapping_file(str(tmp_path / "absent.csv"))
