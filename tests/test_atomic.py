"""Files that appear whole or not at all: the one temporary-name-then-rename helper."""

import os
import stat

import pytest

from stemboard.atomic import PARTIAL, AtomicFiles, atomic_path


def test_a_file_appears_only_when_the_block_ends(tmp_path):
    target = tmp_path / "scores.json"
    with atomic_path(target) as temporary:
        temporary.write_text("{}")
        assert not target.exists()
        assert temporary.name.startswith(".scores.json.") and PARTIAL in temporary.name
        assert temporary.suffix == ".json"
    assert target.read_text() == "{}"
    assert os.listdir(tmp_path) == ["scores.json"]


@pytest.mark.parametrize("interruption", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_an_interruption_leaves_the_old_file_and_no_temporary(tmp_path, interruption):
    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(interruption), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise interruption()
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_a_group_commits_every_file_together_or_none(tmp_path):
    with AtomicFiles() as files:
        files.reserve(tmp_path / "a.onnx").write_text("a")
        files.reserve(tmp_path / "a.fp16.onnx").write_text("b")
    assert sorted(os.listdir(tmp_path)) == ["a.fp16.onnx", "a.onnx"]
    with pytest.raises(ValueError), AtomicFiles() as files:
        files.reserve(tmp_path / "c.onnx").write_text("c")
        raise ValueError("verification failed")
    assert sorted(os.listdir(tmp_path)) == ["a.fp16.onnx", "a.onnx"]


def test_a_folder_replaces_an_older_folder(tmp_path):
    (tmp_path / "reference").mkdir()
    (tmp_path / "reference" / "old.wav").write_text("old")
    with atomic_path(tmp_path / "reference") as temporary:
        temporary.mkdir()
        (temporary / "new.wav").write_text("new")
    assert os.listdir(tmp_path / "reference") == ["new.wav"]
    assert os.listdir(tmp_path) == ["reference"]


def test_files_get_the_usual_permissions_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.yaml") as temporary:
            temporary.write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.yaml").stat().st_mode) == 0o644


def test_a_reserved_file_that_was_not_written_is_an_error_unless_optional(tmp_path):
    with AtomicFiles() as files:
        files.reserve(tmp_path / "maybe.txt", required=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FileNotFoundError), AtomicFiles() as files:
        files.reserve(tmp_path / "must.txt")
