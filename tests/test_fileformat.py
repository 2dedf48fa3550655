"""Graph files: round trips, structural errors with locations, versions, atomic saves, fuzzing."""

from __future__ import annotations

import contextlib
import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graph.fileformat as fileformat
from blocks.errors import GraphFileError, TensorBlocksError
from graph.fileformat import (
    CURRENT_VERSION,
    GraphLoadError,
    graph_base_dir,
    graph_from_dict,
    graph_from_json,
    graph_to_dict,
    graph_to_json,
    load_graph,
    models_equal,
    save_graph,
)
from graph.model import GraphModel, PortRef
from graph.validate import validate

GLIMPSE_ATTRS = "centered_ = true;normalized_ = true;uniform_noise_ = true;noise_ = uniform;"


def sample_dict() -> dict[str, Any]:
    """The SPEC section 5 example, plus a third node and an unknown top-level key."""
    return {
        "format": "tensorblocks.graph",
        "version": 2,
        "nodes": [
            {"id": "image", "block": "Input",
             "inputs": {"dtype": "DT_FLOAT", "file": "images.npy"}, "pos": [0, 0]},
            {"id": "glimpse", "block": "ExtractGlimpse", "attrs": GLIMPSE_ATTRS,
             "inputs": {"size": "{8,8}", "offsets": "{{0,0}}"}, "pos": [260, 0]},
            {"id": "patches", "block": "ExtractImagePatches",
             "inputs": {"images": "{{{{1}}}}", "padding": "SAME"}, "pos": [520.5, -40]},
        ],
        "edges": [
            {"from": "image.output", "to": "glimpse.input"},
            {"from": "glimpse.glimpse", "to": "patches.images"},
        ],
        "ui": {"zoom": 1.25, "view": [10, 20]},
    }


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def load_error(data: Any, tmp_path: Path) -> GraphFileError:
    path = write(tmp_path / "g.tbg.json", data)
    with pytest.raises(GraphFileError) as info:
        load_graph(path)
    return info.value


# ----------------------------------------------------------------------------- round trips


def test_load_reads_nodes_wires_literals_and_positions(tmp_path: Path) -> None:
    model = load_graph(write(tmp_path / "g.tbg.json", sample_dict()))
    assert model.node_ids() == ["image", "glimpse", "patches"]
    glimpse = model.node("glimpse")
    assert glimpse.block == "ExtractGlimpse"
    assert glimpse.attrs == GLIMPSE_ATTRS
    assert dict(glimpse.literals) == {"size": "{8,8}", "offsets": "{{0,0}}"}
    assert model.node("patches").pos == (520.5, -40.0)
    assert [str(w) for w in model.wires()] == [
        "image.output -> glimpse.input",
        "glimpse.glimpse -> patches.images",
    ]
    assert model.extra == {"ui": {"zoom": 1.25, "view": [10, 20]}}


def test_load_save_load_is_equal_and_save_is_stable(tmp_path: Path) -> None:
    first = load_graph(write(tmp_path / "a.tbg.json", sample_dict()))
    save_graph(first, tmp_path / "b.tbg.json")
    second = load_graph(tmp_path / "b.tbg.json")
    assert models_equal(first, second)
    save_graph(second, tmp_path / "c.tbg.json")
    assert (tmp_path / "b.tbg.json").read_bytes() == (tmp_path / "c.tbg.json").read_bytes()


def test_unknown_top_level_keys_survive_a_save(tmp_path: Path) -> None:
    data = sample_dict()
    data["ui"] = {"zoom": 2, "nested": {"list": [1, "two", None, True]}}
    data["x-plugin"] = "kept"
    model = load_graph(write(tmp_path / "a.tbg.json", data))
    save_graph(model, tmp_path / "b.tbg.json")
    saved = json.loads((tmp_path / "b.tbg.json").read_text(encoding="utf-8"))
    assert saved["ui"] == data["ui"]
    assert saved["x-plugin"] == "kept"
    assert list(saved)[:4] == ["format", "version", "nodes", "edges"]


def test_a_literal_under_a_wire_is_kept(tmp_path: Path) -> None:
    data = sample_dict()
    data["nodes"][1]["inputs"]["input"] = "{{{{1,2,3}}}}"  # wired from image.output
    model = load_graph(write(tmp_path / "a.tbg.json", data))
    assert model.wire_into(PortRef("glimpse", "input")) is not None
    assert model.node("glimpse").literals["input"] == "{{{{1,2,3}}}}"
    saved = graph_to_dict(model)
    assert saved["nodes"][1]["inputs"]["input"] == "{{{{1,2,3}}}}"
    model.disconnect(PortRef("glimpse", "input"))
    assert model.node("glimpse").literals["input"] == "{{{{1,2,3}}}}"


def test_attrs_are_written_in_canonical_form() -> None:
    model = GraphModel()
    model.add_node("ExtractGlimpse", "a", attrs=" centered = False ; noise_ = \"zero\"")
    model.add_node("ExtractGlimpseV2", "b")  # empty: every attr at its default
    model.add_node("Input", "c")  # no attrs: no key
    nodes = graph_to_dict(model)["nodes"]
    assert nodes[0]["attrs"] == (
        "centered_ = false;normalized_ = true;uniform_noise_ = true;noise_ = zero;"
    )
    assert nodes[1]["attrs"] == GLIMPSE_ATTRS
    assert "attrs" not in nodes[2]


def test_attrs_that_do_not_parse_are_written_as_typed() -> None:
    model = GraphModel()
    model.add_node("ExtractGlimpse", "a", attrs="centred_ = maybe;")
    model.add_node("Input", "b", attrs="stray = 1;")
    model.add_node("NoSuchBlock", "c", attrs="whatever")
    nodes = graph_to_dict(model)["nodes"]
    assert [n["attrs"] for n in nodes] == ["centred_ = maybe;", "stray = 1;", "whatever"]
    assert models_equal(graph_from_json(graph_to_json(model)), model)


def test_semantic_problems_load_and_are_left_to_validation(tmp_path: Path) -> None:
    data = sample_dict()
    data["nodes"][0]["block"] = "Inptu"
    data["nodes"][1]["attrs"] = "centered_ = perhaps;"
    data["nodes"][1]["inputs"]["size"] = "{8,"
    data["edges"].append({"from": "patches.nope", "to": "glimpse.offsets"})
    model = load_graph(write(tmp_path / "a.tbg.json", data))
    assert model.node("image").block == "Inptu"
    assert model.node("glimpse").attrs == "centered_ = perhaps;"
    problems = validate(model)
    assert any("Inptu" in p.reason for p in problems)
    assert any(p.node == "glimpse" and p.attr is not None for p in problems)
    assert any(p.node == "glimpse" and p.port == "size" for p in problems)


def test_node_ids_subset_keeps_only_the_wires_among_them() -> None:
    model = graph_from_dict(sample_dict())
    data = graph_to_dict(model, ["glimpse", "patches"])
    assert [n["id"] for n in data["nodes"]] == ["glimpse", "patches"]
    assert data["edges"] == [{"from": "glimpse.glimpse", "to": "patches.images"}]
    pasted = graph_from_dict(data)
    assert pasted.node_ids() == ["glimpse", "patches"]


def test_empty_graph_and_missing_lists(tmp_path: Path) -> None:
    model = graph_from_dict({"format": "tensorblocks.graph", "version": 1})
    assert len(model) == 0
    assert graph_from_json(graph_to_json(model)).node_ids() == []


def test_positions_are_written_as_integers_when_whole() -> None:
    model = GraphModel()
    model.add_node("Input", "a", pos=(280.0, -160.0))
    model.add_node("Input", "b", pos=(0.25, 3.0))
    nodes = graph_to_dict(model)["nodes"]
    assert nodes[0]["pos"] == [280, -160] and isinstance(nodes[0]["pos"][0], int)
    assert nodes[1]["pos"] == [0.25, 3]


def test_utf8_names_and_bom(tmp_path: Path) -> None:
    data = sample_dict()
    data["nodes"][0]["inputs"]["file"] = "bilder/äpfel.png"
    path = tmp_path / "g.tbg.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data, ensure_ascii=False).encode("utf-8"))
    model = load_graph(path)
    assert model.node("image").literals["file"] == "bilder/äpfel.png"
    save_graph(model, path)
    assert "äpfel" in path.read_text(encoding="utf-8")


def test_graph_base_dir_is_the_files_folder(tmp_path: Path) -> None:
    assert graph_base_dir(tmp_path / "x" / "g.tbg.json") == (tmp_path / "x").resolve()


# ----------------------------------------------------------------------------- structural errors


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "g.tbg.json"
    path.write_text('{\n  "format": "tensorblocks.graph",\n  "version": 1,,\n}', encoding="utf-8")
    with pytest.raises(GraphFileError) as info:
        load_graph(path)
    assert info.value.location == "line 3, column 16"
    assert str(info.value).startswith(f"{path} at line 3, column 16: not valid JSON")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([1, 2], "expected a JSON object, found a list"),
        ({"version": 1}, "no \"format\" key"),
        ({"format": "other", "version": 1}, "not a TensorBlocks graph file"),
        ({"format": "tensorblocks.graph"}, "no \"version\" key"),
        ({"format": "tensorblocks.graph", "version": "1"}, "unknown format version \"1\""),
        ({"format": "tensorblocks.graph", "version": 0}, "unknown format version 0"),
        ({"format": "tensorblocks.graph", "version": True}, "unknown format version true"),
    ],
)
def test_top_level_problems(tmp_path: Path, data: Any, words: str) -> None:
    error = load_error(data, tmp_path)
    assert words in error.reason
    assert error.file == str(tmp_path / "g.tbg.json")


def test_a_newer_version_is_refused_clearly(tmp_path: Path) -> None:
    assert CURRENT_VERSION == 2
    data = sample_dict()
    data["version"] = 3
    error = load_error(data, tmp_path)
    assert error.reason == (
        f"written by a newer TensorBlocks (version 3); this one reads up to {CURRENT_VERSION}"
    )
    assert error.location == "version"


def mutate(path: str, value: Any) -> dict[str, Any]:
    """sample_dict() with the item at ``path`` (keys and indices) set to ``value``."""
    data = sample_dict()
    target: Any = data
    keys = path.split("/")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "location", "words"),
    [
        (mutate("nodes", {"a": 1}), "nodes", "expected a list of nodes, found an object"),
        (mutate("edges", "x"), "edges", "expected a list of edges, found a string"),
        (mutate("nodes/1", 7), "nodes[1]", "expected a node object"),
        (mutate("nodes/1/id", "9lives"), "nodes[1].id", "is not valid"),
        (mutate("nodes/1/id", 12), "nodes[1].id", "expected the node id as a string"),
        (mutate("nodes/1/id", "image"), "nodes[1].id", "duplicate node id 'image'"),
        (mutate("nodes/1/block", None), "nodes[1].block", "block name as a string, found null"),
        (mutate("nodes/1/attrs", {"centered": True}), "nodes[1].attrs", "attrs as a string"),
        (mutate("nodes/1/inputs", ["{8,8}"]), "nodes[1].inputs", "an object of port literals"),
        (mutate("nodes/1/inputs/size", [8, 8]), "nodes[1].inputs.size",
         "expected the literal as a string"),
        (mutate("nodes/1/pos", [1]), "nodes[1].pos", "two numbers"),
        (mutate("nodes/1/pos", [1, "2"]), "nodes[1].pos", "two numbers"),
        (mutate("nodes/1/pos", [True, 2]), "nodes[1].pos", "two numbers"),
        (mutate("nodes/1/pos", [10**400, 2]), "nodes[1].pos", "two numbers"),
        (mutate("nodes/1/colour", "red"), "nodes[1].colour", "unknown key 'colour'"),
        (mutate("edges/0", "image.output"), "edges[0]", "expected an edge object"),
        (mutate("edges/0/from", "image"), "edges[0].from", "node.port"),
        (mutate("edges/0/to", 5), "edges[0].to", "expected \"node.port\""),
        (mutate("edges/0/to", "ghost.input"), "edges[0].to", "no node 'ghost'"),
        (mutate("edges/1/to", "glimpse.input"), "edges[1].to", "already has a wire"),
        (mutate("edges/0/via", "x"), "edges[0].via", "unknown key 'via'"),
    ],
)
def test_structural_problems_name_their_location(
    tmp_path: Path, data: dict[str, Any], location: str, words: str
) -> None:
    error = load_error(data, tmp_path)
    assert error.location == location
    assert words in error.reason
    assert str(error).startswith(f"{tmp_path / 'g.tbg.json'} at {location}")


def test_missing_id_and_block(tmp_path: Path) -> None:
    data = sample_dict()
    del data["nodes"][2]["id"]
    del data["nodes"][1]["block"]
    error = load_error(data, tmp_path)
    assert isinstance(error, GraphLoadError)
    assert [(p.location, p.node) for p in error.problems] == [
        ("nodes[1].block", "glimpse"),
        ("nodes[2].id", None),
        # Without its id the node is unknown, so the wire into it has no end.
        ("edges[1].to", "patches"),
    ]


def test_every_structural_problem_is_collected(tmp_path: Path) -> None:
    data = sample_dict()
    data["nodes"][0]["pos"] = "here"
    data["nodes"][2]["inputs"]["ksizes"] = 3
    data["edges"][0]["to"] = "ghost.input"
    error = load_error(data, tmp_path)
    assert isinstance(error, GraphLoadError)
    assert [p.location for p in error.problems] == [
        "nodes[0].pos", "nodes[2].inputs.ksizes", "edges[0].to",
    ]
    # A refused node's wires are not reported again as "no node".
    assert "(and 2 more: node 'patches': " in error.reason and error.reason.endswith("; ...)")
    assert error.problems[1].node == "patches" and error.problems[1].port == "ksizes"


def test_wires_of_a_refused_node_are_not_reported_twice(tmp_path: Path) -> None:
    data = sample_dict()
    data["nodes"][0]["pos"] = None
    data["nodes"][1]["id"] = "2nd"
    data["edges"][0]["to"] = "2nd.input"
    data["edges"][1]["from"] = "2nd.glimpse"
    error = load_error(data, tmp_path)
    assert isinstance(error, GraphLoadError)
    assert [p.location for p in error.problems] == ["nodes[0].pos", "nodes[1].id"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"format": "tensorblocks.graph", "version": NaN}', "NaN is not valid JSON"),
        ('{"format": "tensorblocks.graph", "version": 1, "version": 1}', "duplicate key 'version'"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ("", "not valid JSON"),
    ],
)
def test_json_level_problems(text: str, words: str) -> None:
    with pytest.raises(GraphFileError) as info:
        graph_from_json(text, file="g.json")
    assert words in info.value.reason
    assert info.value.file == "g.json"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(GraphFileError, match="no such file"):
        load_graph(tmp_path / "missing.tbg.json")
    with pytest.raises(GraphFileError, match="it is a folder"):
        load_graph(tmp_path)
    binary = tmp_path / "b.tbg.json"
    binary.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(GraphFileError, match="expected UTF-8 text, found the byte 0xff"):
        load_graph(binary)


def test_a_huge_file_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileformat, "MAX_FILE_BYTES", 100)
    path = write(tmp_path / "g.tbg.json", sample_dict())
    with pytest.raises(GraphFileError, match="larger than"):
        load_graph(path)


# ----------------------------------------------------------------------------- versions


def test_migration_from_an_older_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pretend the current version is 3, whose files call 'edges' 'wires'."""
    seen: list[int] = []

    def v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
        seen.append(data["version"])
        data["wires"] = data.pop("edges", [])
        return data

    monkeypatch.setattr(fileformat, "CURRENT_VERSION", 3)
    monkeypatch.setitem(fileformat.MIGRATIONS, 2, v2_to_v3)
    path = write(tmp_path / "old.tbg.json", sample_dict())
    model = load_graph(path)
    assert seen == [2]
    # The fake v2 renamed "edges"; this reader's v1 structure then sees no edges and keeps
    # "wires" as an unknown top-level key, which proves the migration ran before loading.
    assert model.wires() == []
    assert model.extra["wires"] == sample_dict()["edges"]
    assert model.node_ids() == ["image", "glimpse", "patches"]
    save_graph(model, tmp_path / "new.tbg.json")
    assert json.loads((tmp_path / "new.tbg.json").read_text(encoding="utf-8"))["version"] == 3


def test_a_missing_migration_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fileformat, "CURRENT_VERSION", 3)
    monkeypatch.delitem(fileformat.MIGRATIONS, 2, raising=False)
    error = load_error(sample_dict(), tmp_path)
    assert "no migration to version 3" in error.reason


def test_a_migration_failing_on_a_malformed_old_file_is_a_graph_file_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fragile(data: dict[str, Any]) -> dict[str, Any]:
        data["edges"] = [{"from": e["source"]} for e in data["edges"]]
        return data

    monkeypatch.setattr(fileformat, "CURRENT_VERSION", 3)
    monkeypatch.setitem(fileformat.MIGRATIONS, 2, fragile)
    with pytest.raises(GraphFileError, match="cannot migrate from version 2: KeyError"):
        graph_from_dict(sample_dict(), file="old.json")


def test_extra_keys_are_copied_not_shared() -> None:
    data = sample_dict()
    model = graph_from_dict(data)
    data["ui"]["zoom"] = 99
    assert model.extra["ui"]["zoom"] == 1.25


def test_migrations_apply_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def step(name: str) -> Any:
        def migrate(data: dict[str, Any]) -> dict[str, Any]:
            calls.append(f"{name}@{data['version']}")
            return data

        return migrate

    monkeypatch.setattr(fileformat, "CURRENT_VERSION", 4)
    monkeypatch.setitem(fileformat.MIGRATIONS, 2, step("two"))
    monkeypatch.setitem(fileformat.MIGRATIONS, 3, step("three"))
    graph_from_dict(sample_dict())
    assert calls == ["two@2", "three@3"]
    calls.clear()
    monkeypatch.setitem(fileformat.MIGRATIONS, 1, step("one"))
    graph_from_dict({**sample_dict(), "version": 1})
    assert calls == ["one@1", "two@2", "three@3"]


# ----------------------------------------------------------------------------- version 2: ports


def concat_dict(version: int = 2, ports: Any = None) -> dict[str, Any]:
    """Two inputs joined by a ConcatV2 with three values (one of them typed)."""
    concat: dict[str, Any] = {"id": "join", "block": "ConcatV2",
                              "inputs": {"values_2": "{{5}}", "axis": "1"}, "pos": [300, 0]}
    if ports is not None:
        concat["ports"] = ports
    return {
        "format": "tensorblocks.graph",
        "version": version,
        "nodes": [
            {"id": "a", "block": "Input", "inputs": {"initvalues": "{{1}}"}, "pos": [0, 0]},
            {"id": "b", "block": "Input", "inputs": {"initvalues": "{{2,3}}"}, "pos": [0, 200]},
            concat,
        ],
        "edges": [
            {"from": "a.output", "to": "join.values_0"},
            {"from": "b.output", "to": "join.values_1"},
        ],
    }


def test_a_version_1_file_loads_and_is_saved_as_version_2(tmp_path: Path) -> None:
    v1 = sample_dict()
    v1["version"] = 1
    model = load_graph(write(tmp_path / "v1.tbg.json", v1))
    assert models_equal(model, graph_from_dict(sample_dict()))
    assert all(not node.port_counts for node in model.nodes())
    save_graph(model, tmp_path / "v2.tbg.json")
    saved = json.loads((tmp_path / "v2.tbg.json").read_text(encoding="utf-8"))
    assert saved["version"] == 2 == CURRENT_VERSION
    assert all("ports" not in node for node in saved["nodes"])  # only variadic nodes have it
    assert {**saved, "version": 1} == v1


def test_ports_round_trip_and_are_written_for_variadic_nodes_only(tmp_path: Path) -> None:
    model = load_graph(write(tmp_path / "g.tbg.json", concat_dict(ports={"values": 3})))
    assert dict(model.node("join").port_counts) == {"values": 3}
    assert [p.name for p in model.inputs_of("join") or ()] == [
        "values_0", "values_1", "values_2", "axis"]
    assert validate(model) == []
    text = graph_to_json(model)
    assert '"ports": {"values": 3}' in text
    assert text.count('"ports"') == 1
    assert models_equal(graph_from_json(text), model)
    # A variadic node written without the key gets its group's default count, and the
    # key is written back.
    default = graph_from_dict(concat_dict())
    assert dict(default.node("join").port_counts) == {"values": 2}
    assert '"ports": {"values": 2}' in graph_to_json(default)
    # There the typed values_2 is a port the node does not have: validation says so.
    assert [(p.node, p.port) for p in validate(default)] == [("join", "values_2")]
    assert "its inputs: values_0, values_1, axis" in validate(default)[0].reason


@pytest.mark.parametrize(
    ("ports", "words"),
    [
        ({"values": 1}, "'values' takes 2 to 256 ports, got 1"),
        ({"values": 10**12}, "'values' takes 2 to 256 ports, got 1000000000000"),
        ({"values": -3}, "'values' takes 2 to 256 ports, got -3"),
        ({"values": "3"}, "expected a whole number of 'values' ports, got '3'"),
        ({"values": 3.0}, "expected a whole number of 'values' ports, got 3.0"),
        ({"values": True}, "expected a whole number of 'values' ports, got True"),
        ({"values": None}, "expected a whole number of 'values' ports, got None"),
    ],
)
def test_a_bad_port_count_refuses_the_file_naming_it(
    tmp_path: Path, ports: Any, words: str
) -> None:
    error = load_error(concat_dict(ports=ports), tmp_path)
    assert error.location == "nodes[2].ports.values"
    assert error.reason == words
    line = str(error)
    assert "\n" not in line
    assert line.startswith(f"{tmp_path / 'g.tbg.json'} at nodes[2].ports.values")


def test_ports_of_the_wrong_shape_or_group_are_refused(tmp_path: Path) -> None:
    error = load_error(concat_dict(ports=[3]), tmp_path)
    assert (error.location, error.reason) == (
        "nodes[2].ports", 'expected the ports as an object like {"values": 3}, found a list')
    error = load_error(concat_dict(ports={"value": 3}), tmp_path)
    assert error.location == "nodes[2].ports.value"
    assert error.reason == (
        "ConcatV2 has no variadic input group 'value' (its variadic group is 'values')")
    data = concat_dict()
    data["nodes"][0]["ports"] = {"values": 2}  # an Input has no variadic group
    error = load_error(data, tmp_path)
    assert (error.location, error.reason) == (
        "nodes[0].ports.values", "Input has no variadic input group 'values' (it has none)")
    # A v1 file is migrated first, then judged as version 2.
    assert load_error(concat_dict(version=1, ports={"values": 0}), tmp_path).location == \
        "nodes[2].ports.values"


def test_ports_of_a_block_that_is_not_installed_are_kept_as_written(tmp_path: Path) -> None:
    data = concat_dict(ports={"values": 3})
    data["nodes"][2]["block"] = "PluginConcat"
    data["nodes"][2]["ports"] = {"items": 0, "more": 5}
    model = load_graph(write(tmp_path / "g.tbg.json", data))
    assert dict(model.node("join").port_counts) == {"items": 0, "more": 5}
    assert json.loads(graph_to_json(model))["nodes"][2]["ports"] == {"items": 0, "more": 5}
    data["nodes"][2]["ports"] = {"items": 257}
    assert load_error(data, tmp_path).reason == "expected 0 to 256 ports, found 257"


# ----------------------------------------------------------------------------- atomic save


def test_save_failing_midway_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "g.tbg.json", sample_dict())
    before = path.read_bytes()
    model = load_graph(path)
    model.add_node("Input", "extra")

    class HalfWriter:
        """A file that takes half of what is written, then runs out of space."""

        def __init__(self, stream: Any) -> None:
            self.stream = stream

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()

        def write(self, data: bytes) -> int:
            self.stream.write(data[: len(data) // 2])
            self.stream.flush()
            raise OSError(28, "No space left on device")

    real_fdopen = os.fdopen  # the one writer (graph.atomic) writes through os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))
    with pytest.raises(GraphFileError, match="No space left on device") as info:
        save_graph(model, path)
    monkeypatch.undo()
    assert info.value.file == str(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["g.tbg.json"]  # no temporary file left


def test_save_failing_at_the_rename_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "g.tbg.json", sample_dict())
    before = path.read_bytes()
    model = load_graph(path)
    model.remove_node("patches")

    def broken_replace(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(GraphFileError, match="Permission denied"):
        save_graph(model, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["g.tbg.json"]


def test_save_interrupted_by_any_exception_cleans_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "g.tbg.json", sample_dict())
    before = path.read_bytes()

    def crash(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save_graph(load_graph(path), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["g.tbg.json"]


def test_unserializable_extra_is_a_graph_file_error(tmp_path: Path) -> None:
    model = graph_from_dict(sample_dict())
    model.extra["ui"] = {"bad": {1, 2}}
    path = tmp_path / "g.tbg.json"
    with pytest.raises(GraphFileError, match="cannot write"):
        save_graph(model, path)
    assert not path.exists()


def test_extra_keys_that_json_cannot_hold_are_refused_on_load() -> None:
    data = sample_dict()
    data["ui"] = {"zoom": float("inf")}
    with pytest.raises(GraphFileError) as info:
        graph_from_dict(data)
    assert info.value.location == "ui"
    model = graph_from_dict(sample_dict())
    model.extra["ui"] = float("nan")
    with pytest.raises(GraphFileError, match="cannot write"):
        graph_to_json(model)


def test_save_keeps_the_file_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "g.tbg.json", sample_dict())
    path.chmod(0o640)
    save_graph(load_graph(path), path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_save_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = write(tmp_path / "real.tbg.json", sample_dict())
    link = tmp_path / "link.tbg.json"
    link.symlink_to(real)
    model = load_graph(link)
    model.remove_node("patches")
    save_graph(model, link)
    assert link.is_symlink()
    assert load_graph(real).node_ids() == ["image", "glimpse"]


def test_save_into_a_missing_folder_is_a_graph_file_error(tmp_path: Path) -> None:
    with pytest.raises(GraphFileError, match="cannot write"):
        save_graph(graph_from_dict(sample_dict()), tmp_path / "nope" / "g.tbg.json")


# ----------------------------------------------------------------------------- fuzzing

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_any_json_value_loads_or_raises_a_tensorblocks_error(value: Any) -> None:
    with contextlib.suppress(TensorBlocksError):
        graph_from_dict(value)


NODE_FIELDS = st.sampled_from(["id", "block", "attrs", "inputs", "pos", "extra"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["nodes", "edges", "version", "format", "ui"]),
            st.integers(0, 3),
            st.sampled_from(["id", "block", "attrs", "inputs", "pos", "from", "to", "x"]),
            JSON,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_valid_files_load_or_raise_a_tensorblocks_error(
    mutations: list[tuple[str, int, str, Any]],
) -> None:
    data: Any = sample_dict()
    for top, index, key, value in mutations:
        items = data.get(top)
        if isinstance(items, list) and items:
            entry = items[index % len(items)]
            if isinstance(entry, dict):
                entry[key] = value
            else:
                items[index % len(items)] = value
        else:
            data[top] = value
    try:
        model = graph_from_dict(copy.deepcopy(data))
    except TensorBlocksError:
        return
    # What loads, saves and loads back to the same text.
    text = graph_to_json(model)
    assert graph_to_json(graph_from_json(text)) == text
    validate(model)  # never raises


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_file_text_loads_or_raises_a_tensorblocks_error(data: st.DataObject) -> None:
    text = graph_to_json(graph_from_dict(sample_dict()))
    position = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 5))
    insert = data.draw(st.text(alphabet='{}[]",:0123456789.-eE \n\\tnul', max_size=5))
    mutated = text[:position] + insert + text[position + cut :]
    try:
        graph_from_json(mutated, file="fuzz.tbg.json")
    except TensorBlocksError as error:
        assert error.file == "fuzz.tbg.json"
