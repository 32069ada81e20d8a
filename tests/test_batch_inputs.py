"""What a batch's inputs name: files, folders, globs and manifests, each track with the folder
its files go in (mirroring its path, so that equal names in different folders never collide)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from stemboard.batch.inputs import find_tracks
from stemboard.errors import InvalidValueError, MissingFileError


@pytest.fixture
def tree(tmp_path, monkeypatch):
    for name in [
        "music/a/01.wav",
        "music/b/01.mp3",
        "music/b/c/02.flac",
        "music/notes.txt",
        "music/.hidden/x.wav",
        "music/.partial.wav",
        "loose/03.ogg",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not read here")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def folders(items):
    return {str(item.input): str(item.folder) for item in items}


def test_a_folder_is_walked_for_audio_and_mirrored_below_itself(tree):
    assert folders(find_tracks(["music"])) == {
        "music/a/01.wav": "a",
        "music/b/01.mp3": "b",
        "music/b/c/02.flac": "b/c",
    }


def test_files_below_the_current_folder_keep_their_path(tree):
    items = find_tracks(["music/a/01.wav", "music/b/01.mp3", tree / "loose" / "03.ogg"])
    assert [str(item.folder) for item in items] == ["music/a", "music/b", "loose"]


def test_a_glob_is_rooted_at_its_fixed_folder(tree):
    assert folders(find_tracks(["music/**/*.mp3", "music/*/*.wav"])) == {
        "music/b/01.mp3": "b",
        "music/a/01.wav": "a",
    }


def test_each_track_is_taken_once(tree):
    assert len(find_tracks(["music", "music/a/01.wav", "music/**/*.wav"])) == 3


@pytest.mark.parametrize("name", ["nowhere", "music/*.aiff"])
def test_what_finds_nothing_is_refused(tree, name):
    with pytest.raises(MissingFileError, match=name.replace("*", r"\*")):
        find_tracks([name])


def test_a_csv_manifest_gives_presets_and_output_folders(tree):
    (tree / "list.csv").write_text(
        "path,preset,output\nmusic/a/01.wav,karaoke,\nmusic/b/01.mp3,my.yaml,x/y\n"
    )
    first, second = find_tracks(["list.csv"])
    assert (first.preset, first.folder) == ("karaoke", PurePosixPath("music/a"))
    assert second.preset == str(Path("my.yaml").resolve().relative_to(Path.cwd()))
    assert second.folder == PurePosixPath("x/y")


def test_a_jsonl_manifest_is_read_line_by_line(tree):
    (tree / "list.jsonl").write_text('{"path": "music/a/01.wav"}\n\n{"path": "loose/03.ogg"}\n')
    assert [str(item.input) for item in find_tracks(["list.jsonl"])] == [
        "music/a/01.wav",
        "loose/03.ogg",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,preset\nx.wav,\n", "needs a header with a 'path' column"),
        ("path,colour\nmusic/a/01.wav,red\n", "unknown column 'colour'"),
        ("path,output\nmusic/a/01.wav,/etc\n", "is absolute"),
        ("path,output\nmusic/a/01.wav,../../x\n", "leaves the output folder"),
        ("path\n\n", None),
    ],
)
def test_a_broken_manifest_is_refused_naming_the_line(tree, text, message):
    (tree / "list.csv").write_text(text)
    if message is None:
        assert find_tracks(["list.csv"]) == []
        return
    with pytest.raises(InvalidValueError, match=message):
        find_tracks(["list.csv"])
