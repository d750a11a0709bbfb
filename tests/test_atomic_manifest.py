"""Atomic writes leave the old result or the new one, never half of one; manifests are checked."""
import json

import pytest

from dnahlm_rag.atomic import atomic_dir, atomic_file, sha256_file, write_json
from dnahlm_rag.errors import ManifestError
from dnahlm_rag.manifest import read_manifest, write_manifest


def test_atomic_file_keeps_old_on_error(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(p) as f:
            f.write("new, half")
            raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["a.txt"]  # no temporary left behind


def test_atomic_dir_replaces_whole_folder(tmp_path):
    out = tmp_path / "stage"
    with atomic_dir(out, marker="x") as d:
        (d / "x").write_text("1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(out, marker="x") as d:
            (d / "y").write_text("2")
            raise KeyboardInterrupt
    assert sorted(q.name for q in out.iterdir()) == ["x"]
    with atomic_dir(out, marker="x") as d:
        (d / "z").write_text("3")
    assert sorted(q.name for q in out.iterdir()) == ["z"]
    assert sorted(q.name for q in tmp_path.iterdir()) == ["stage"]


def test_atomic_dir_never_replaces_a_folder_it_did_not_write(tmp_path):
    from dnahlm_rag.errors import DnaHlmError

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "precious.txt").write_text("keep me")
    for target, message in ((mine, "holds files but no manifest.json"), (tmp_path / ".", "holds files but no manifest.json"), (mine / "..", "give a folder name"),
                            (mine / "precious.txt", "is a file, not a folder"),
                            (mine / "precious.txt" / "sub", "is a file, not a folder")):
        with pytest.raises(DnaHlmError, match=message):
            with atomic_dir(target) as d:
                (d / "manifest.json").write_text("{}")
    assert (mine / "precious.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    with atomic_dir(tmp_path / "empty") as d:  # an empty folder may be filled
        (d / "manifest.json").write_text("{}")
    with atomic_dir(tmp_path / "empty") as d:  # and a folder it wrote replaced
        (d / "manifest.json").write_text("[]")
    assert (tmp_path / "empty" / "manifest.json").read_text() == "[]"


def test_sha256_file(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_manifest_round_trip_and_checks(tmp_path):
    write_manifest(tmp_path, "data", 1, counts={"a": 1})
    m = read_manifest(tmp_path, "data", 1)
    assert m["counts"] == {"a": 1} and "torch" in m["versions"]
    with pytest.raises(ManifestError, match="expected 'index'"):
        read_manifest(tmp_path, "index")
    with pytest.raises(ManifestError, match="format version 1"):
        read_manifest(tmp_path, "data", 2)
    (tmp_path / "manifest.json").write_text("{trunc")
    with pytest.raises(ManifestError, match="corrupt"):
        read_manifest(tmp_path, "data")
    with pytest.raises(ManifestError, match="no manifest.json"):
        read_manifest(tmp_path / "missing", "data")
    write_json(tmp_path / "j.json", {"k": [1]})
    assert json.loads((tmp_path / "j.json").read_text()) == {"k": [1]}


def test_a_manifest_that_is_not_an_object_is_a_clear_error(tmp_path):
    from dnahlm_rag.errors import ManifestError
    from dnahlm_rag.manifest import read_manifest

    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match="a JSON list, not an object"):
        read_manifest(tmp_path, "data")


def test_check_replaceable_refuses_another_stage_and_reads_a_file_as_no_folder(tmp_path):
    from dnahlm_rag.manifest import check_replaceable

    write_manifest(tmp_path / "data", "data", 1)
    with pytest.raises(ManifestError, match="holds a 'data' stage, not a 'tokenizer' output"):
        check_replaceable(tmp_path / "data", "tokenizer")
    write_manifest(tmp_path / "tok", "tokenizer", 1)
    check_replaceable(tmp_path / "tok", "tokenizer")  # an earlier output of the same stage
    check_replaceable(tmp_path / "new", "tokenizer")
    with pytest.raises(ManifestError, match="is a file, not a tokenizer folder"):
        read_manifest(tmp_path / "tok" / "manifest.json", "tokenizer")


def test_check_dir_path_refuses_a_file_in_the_way_before_any_work(tmp_path):
    from dnahlm_rag.atomic import check_dir_path
    from dnahlm_rag.errors import DnaHlmError

    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(DnaHlmError, match="f is a file, not a folder"):
        check_dir_path(f, marker=None)
    with pytest.raises(DnaHlmError, match="sub: .*f is a file, not a folder"):
        check_dir_path(f / "sub", marker=None)
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.txt").write_text("keep")
    with pytest.raises(DnaHlmError, match="holds files but no manifest.json"):
        check_dir_path(other)
    assert check_dir_path(other, marker=None) == other and check_dir_path(tmp_path / "new") == tmp_path / "new"
