"""What a batch's inputs name: files, folders, globs and manifests, each track with the folder
its files go in (mirroring its path, so that equal names in different folders never collide)."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize("name", ["list.csv", "list.jsonl"])
def test_a_manifest_with_a_byte_order_mark_is_read(tree, name):
    text = "path\nmusic/a/01.wav\n" if name.endswith("csv") else '{"path": "music/a/01.wav"}\n'
    (tree / name).write_bytes(b"\xef\xbb\xbf" + text.encode())  # what spreadsheets write
    assert [str(item.input) for item in find_tracks([name])] == ["music/a/01.wav"]


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("list.jsonl", '{"path": "music/a/01.wav"}\n{"path": ' + "[" * 100_000, "line 2: JSON"),
        ("list.csv", "path\nmusic/a/01.wav\n" + "x" * 200_000 + "\n", "line 3: field larger"),
        ("list.csv", "path\nmusic/a/01.wav,extra\n", "line 2: more fields than the header"),
        ("list.csv", "path\nmusic/a\x0001.wav\n", "line 2: "),
        ("list.jsonl", '{"path": "a\\u0000.wav"}\n', "line 1: 'path' must be text"),
    ],
)
def test_a_manifest_too_deep_too_long_or_odd_is_one_line_naming_it_and_the_line(
    tree, name, text, message
):
    (tree / name).write_text(text)
    with pytest.raises(InvalidValueError, match=f"{name}: {message}") as raised:
        find_tracks([name])
    assert "\n" not in str(raised.value)


def test_what_is_not_a_regular_file_is_found_with_its_problem_and_never_opened(tree):
    os.symlink("loop.wav", tree / "music" / "a" / "loop.wav")
    os.symlink("nowhere.wav", tree / "music" / "a" / "broken.wav")
    os.mkfifo(tree / "music" / "a" / "pipe.wav")
    problems = {item.input.name: item.problem for item in find_tracks(["music"])}
    assert problems["01.wav"] is None
    assert problems["loop.wav"] == "a symbolic link loop"
    assert problems["broken.wav"] == "a broken symbolic link"
    assert problems["pipe.wav"] == "a named pipe (FIFO), not an audio file"
    named = find_tracks(["music/a/loop.wav", "music/a/pipe.wav"])
    assert [item.problem is not None for item in named] == [True, True]
