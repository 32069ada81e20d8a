"""`stemboard batch`: the same files as render/separate, a ledger that skips what is done, bad
files failing alone, dead workers retried, clean stops — on the local engine and on Ray."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from audio_files import read_audio, write_audio
from batch_helpers import (
    TRACKS,
    children,
    ledger_rows,
    make_catalogue,
    partial_files,
    start,
    stemboard,
    wait_for_partial,
    writes_a_partial_file,
)

from stemboard import cli
from stemboard.batch import plan_batch, run_batch
from stemboard.batch.options import NodeOverrides
from stemboard.batch.work import Work, WorkerNodes
from stemboard.errors import StemboardError
from stemboard.graph import load_preset
from stemboard.node import SeparatorNode
from stemboard.node.stream import shift_offsets
from stemboard.registry import packaged_model_path
from stemboard.render import render_file, separate_file
from stemboard.synth import generate_song


def assert_same_audio(a: Path, b: Path) -> None:
    got, rate = read_audio(a)
    expected, expected_rate = read_audio(b)
    assert rate == expected_rate and got.shape == expected.shape, (a, b)
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    make_catalogue(root)
    return root


def test_local_batch_writes_exactly_what_separate_writes(catalogue, tmp_path):
    out = tmp_path / "out"
    report = run_batch([catalogue], out, stems="all", model="demo", device="cpu", log=print)
    assert report.ok and report.count("done") == len(TRACKS)
    node = SeparatorNode("demo", device="cpu")
    for name in TRACKS:
        relative = Path(name)
        expected = separate_file(node, catalogue / relative, tmp_path / "single" / relative.parent)
        for stem, path in expected.items():
            written = out / relative.parent / relative.stem / f"{stem}.wav"
            assert_same_audio(written, path)
    # the two 01.wav from different folders land in different places
    assert (out / "a" / "01" / "vocals.wav").is_file() and (
        out / "b" / "01" / "vocals.wav"
    ).is_file()


def test_a_rerun_skips_everything_and_a_change_redoes_exactly_that(catalogue, tmp_path):
    source = tmp_path / "music"
    make_catalogue(source, names=TRACKS[:3])
    out = tmp_path / "out"
    preset = tmp_path / "mine.yaml"
    preset.write_text("stemboard_preset: 1\nstems: {vocals: {mute: true}}\n")
    args = ["batch", source, "-o", out, "--preset", preset, "--model", "demo", "--device", "cpu"]
    first = stemboard(*args, "--report", tmp_path / "first.json")
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "first.json").read_text())["totals"]["done"] == 3
    again = stemboard(*args, "--report", tmp_path / "again.json")
    assert again.returncode == 0, again.stderr
    totals = json.loads((tmp_path / "again.json").read_text())["totals"]
    assert (totals["skipped"], totals["done"]) == (3, 0)
    os.utime(source / "b" / "01.wav", ns=(time.time_ns(), time.time_ns()))  # touched, same content
    touched = stemboard(*args, "--report", tmp_path / "touched.json")
    totals = json.loads((tmp_path / "touched.json").read_text())["totals"]
    assert (totals["skipped"], totals["done"]) == (3, 0), touched.stdout
    write_audio(source / "a" / "01.wav", generate_song(2_000_050, 3.0).mix)  # a new take
    changed = stemboard(*args, "--report", tmp_path / "changed.json")
    tracks = json.loads((tmp_path / "changed.json").read_text())["tracks"]
    statuses = {str(Path(t["input"]).relative_to(source.resolve())): t["status"] for t in tracks}
    assert statuses == {"a/01.wav": "done", "b/01.wav": "skipped", "a/02 Intro.wav": "skipped"}
    assert changed.returncode == 0
    preset.write_text("stemboard_preset: 1\nstems: {drums: {mute: true}}\n")
    edited = stemboard(*args, "--report", tmp_path / "edited.json")
    totals = json.loads((tmp_path / "edited.json").read_text())["totals"]
    assert (totals["done"], totals["skipped"]) == (3, 0), edited.stdout
    (out / "b" / "01" / "mix.wav").unlink()  # an output that went missing is made again
    missing = stemboard(*args, "--report", tmp_path / "missing.json")
    totals = json.loads((tmp_path / "missing.json").read_text())["totals"]
    assert (totals["done"], totals["skipped"]) == (1, 2), missing.stdout
    forced = stemboard(*args, "--overwrite", "--report", tmp_path / "forced.json")
    assert json.loads((tmp_path / "forced.json").read_text())["totals"]["done"] == 3
    assert forced.returncode == 0


def test_a_change_of_precision_shifts_or_seed_redoes_the_tracks(tmp_path, capfd):
    source = tmp_path / "music"
    make_catalogue(source, seconds=2.0, names=["x.wav"])
    out, report = tmp_path / "out", tmp_path / "r.json"

    def done(*options) -> int:
        argv = ["batch", source, "-o", out, "--stems", "vocals", "--model", "demo"]
        argv += ["--device", "cpu", "--workers", "1", "--report", report, *options]
        assert cli.main([str(arg) for arg in argv]) == 0
        return json.loads(report.read_text())["totals"]["done"]

    assert done("--precision", "fp32") == 1
    assert done("--precision", "fp32") == 0
    assert done("--precision", "fp32", "--shifts", "1", "-v") == 1
    assert done("--precision", "fp32", "--shifts", "1", "--seed", "1") == 1
    described = [line for line in capfd.readouterr().err.splitlines() if "on the CPU" in line]
    assert len(described) == 1  # -v reaches the worker process, which builds the node
    assert described[0].startswith("stemboard: demo.onnx: ") and "fp32" in described[0]
    assert described[0].endswith(", 1 shifts")


def test_what_a_track_depends_on_includes_precision_shifts_and_seed(tmp_path):
    make_catalogue(tmp_path / "music", seconds=1.0, names=["x.wav"])
    preset = tmp_path / "p.yaml"
    preset.write_text("stemboard_preset: 1\nmodel: {shifts: 2}\nstems: {vocals: {mute: true}}\n")

    def depends_on(**options) -> str:
        plan = plan_batch([tmp_path / "music"], tmp_path / "out", model="demo", **options)
        return plan.tracks[0].options_sha256

    plain = depends_on(stems="all")
    assert depends_on(stems="all", precision="auto", shifts=0, seed=0) == plain
    separating = [
        depends_on(stems="all", **options)
        for options in ({"precision": "fp32"}, {"shifts": 1}, {"shifts": 1, "seed": 1})
    ]
    assert len({plain, *separating}) == 4
    # a preset's own settings count, and the batch's replace them where it gives them
    rendering = [
        depends_on(preset=str(preset), **options)
        for options in ({}, {"shifts": 2}, {"shifts": 1}, {"precision": "fp32"}, {"seed": 3})
    ]
    assert rendering[0] == rendering[1] and len(set(rendering)) == 4
    with pytest.raises(StemboardError, match="int8 is not offered"):
        depends_on(stems="all", precision="int8")
    with pytest.raises(StemboardError, match="shifts: expected an integer from 0 to 16"):
        depends_on(stems="all", shifts=17)
    with pytest.raises(StemboardError, match="no fp16 variant"):
        depends_on(stems="all", precision="fp16")
    preset.write_text("stemboard_preset: 1\nmodel: {precision: fp16}\n")
    with pytest.raises(StemboardError, match="no fp16 variant"):
        depends_on(preset=str(preset))


def test_workers_build_nodes_with_the_presets_settings_or_the_batchs(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("stemboard_preset: 1\nmodel: {precision: fp32, shifts: 2, seed: 1}\n")
    demo = str(packaged_model_path("demo"))
    own = WorkerNodes(Work(demo, NodeOverrides("cpu"))).graph(str(preset)).separator
    assert (own.precision, own.shifts) == ("fp32", 2)
    assert own.offsets == shift_offsets(2, 1, 44100)
    graph = WorkerNodes(Work(demo, NodeOverrides("cpu", shifts=1))).graph(str(preset))
    assert (graph.separator.precision, graph.separator.shifts) == ("fp32", 1)
    assert graph.separator.offsets == shift_offsets(1, 1, 44100)
    assert (graph.preset.model.shifts, graph.preset.model.seed) == (1, 1)
    overrides = NodeOverrides("cpu", precision="fp32", shifts=3, seed=4)
    separating = WorkerNodes(Work(demo, overrides)).node()
    assert (separating.precision, separating.offsets) == ("fp32", shift_offsets(3, 4, 44100))


def test_bad_files_fail_alone_with_their_reasons(tmp_path):
    source = tmp_path / "music"
    make_catalogue(source, names=["good.wav"])
    (source / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    (source / "empty.flac").write_bytes(b"")
    (source / "renamed.mp3").write_bytes((source / "good.wav").read_bytes())
    surround = np.zeros((7, 4410), np.float32)
    write_audio(source / "surround.wav", surround)
    write_audio(source / "silence.wav", np.zeros((2, 44100), np.float32))
    out = tmp_path / "out"
    done = stemboard(
        "batch",
        source,
        "-o",
        out,
        "--stems",
        "vocals",
        "--model",
        "demo",
        "--device",
        "cpu",
        "--report",
        tmp_path / "r.json",
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    tracks = {
        Path(t["input"]).name: t for t in json.loads((tmp_path / "r.json").read_text())["tracks"]
    }
    assert tracks["good.wav"]["status"] == "done" and tracks["silence.wav"]["status"] == "done"
    assert (
        "not a WAV" in tracks["corrupt.wav"]["error"]
        or "cannot decode" in tracks["corrupt.wav"]["error"]
    )
    assert "empty" in tracks["empty.flac"]["error"]
    assert "not an MP3" in tracks["renamed.mp3"]["error"]
    assert "7 channels" in tracks["surround.wav"]["error"]
    rows = ledger_rows(out)
    assert rows["corrupt.wav"][0] == "failed" and "7 channels" in rows["surround.wav"][2]
    assert "surround.wav" in done.stdout and "failed" in done.stdout


def test_a_manifest_sets_presets_and_output_folders_per_track(tmp_path):
    source = tmp_path / "music"
    make_catalogue(source, names=["x.wav", "y.wav", "z.wav"])
    manifest = tmp_path / "list.csv"
    manifest.write_text(
        "path,preset,output\n"
        "music/x.wav,karaoke,\n"
        "music/y.wav,drumless,special/place\n"
        "music/z.wav,,\n"
    )
    out = tmp_path / "out"
    report = run_batch([manifest], out, preset="a_cappella", model="demo", device="cpu")
    assert report.ok, report.table()
    assert (out / "music" / "x" / "karaoke.wav").is_file()
    assert (out / "special" / "place" / "y" / "drumless.wav").is_file()
    assert (out / "music" / "z" / "a_cappella.wav").is_file()
    graph = load_preset("drumless", model="demo", device="cpu")
    expected = render_file(graph, source / "y.wav", tmp_path / "single")
    assert_same_audio(out / "special" / "place" / "y" / "drumless.wav", expected["mix"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--stems", "all"], "no such file, folder or pattern"),
        (["--preset", "nosuch"], "no such preset"),
        (["--stems", "all", "--precision", "int8"], "int8 is not offered"),
    ],
)
def test_usage_errors_exit_2_in_one_line(tmp_path, args, message):
    done = stemboard(
        "batch", tmp_path / "nothing", "-o", tmp_path / "out", "--model", "demo", *args
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_outputs_that_would_collide_are_a_usage_error(tmp_path):
    make_catalogue(tmp_path / "music", names=["x.wav", "y.wav"])
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        '{"path": "music/x.wav", "output": "same"}\n{"path": "music/y.wav", "output": "../out"}\n'
    )
    with pytest.raises(StemboardError, match="leaves the output folder"):
        run_batch([manifest], tmp_path / "out", stems="all", model="demo")
    manifest.write_text('{"path": "music/x.wav"}\n{"path": "music/x.wav", "output": ""}\n')
    report = run_batch([manifest], tmp_path / "out", stems=["vocals"], model="demo")
    assert len(report.tracks) == 1  # the same file once


def test_a_worker_killed_mid_track_costs_one_attempt(tmp_path):
    source = tmp_path / "music"
    make_catalogue(source, seconds=30.0, names=["1.wav", "2.wav", "3.wav"])
    out = tmp_path / "out"
    process = start(
        "batch",
        source,
        "-o",
        out,
        "--stems",
        "all",
        "--model",
        "demo",
        "--device",
        "cpu",
        "--report",
        tmp_path / "r.json",
    )
    try:
        wait_for_partial(out, process)
        writing = [pid for pid in children(process.pid) if writes_a_partial_file(pid)]
        assert writing, "no worker process is writing"
        os.kill(writing[0], signal.SIGKILL)  # one worker, in the middle of a track
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["totals"]["done"] == 3
    assert sorted(track["attempts"] for track in report["tracks"]) == [1, 1, 2]
    assert partial_files(out) == []


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_batch_leaves_no_partial_file_and_the_next_run_finishes(tmp_path, signum, status):
    source = tmp_path / "music"
    make_catalogue(source, seconds=30.0, names=["1.wav", "2.wav", "3.wav"])
    out = tmp_path / "out"
    args = [
        "batch",
        str(source),
        "-o",
        str(out),
        "--stems",
        "all",
        "--model",
        "demo",
        "--device",
        "cpu",
    ]
    process = start(*args)
    try:
        wait_for_partial(out, process)
        started = time.monotonic()
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
        assert time.monotonic() - started < 15
    finally:
        process.kill()
    assert process.returncode == status, err
    assert "Traceback" not in err
    assert partial_files(out) == []
    assert "running" not in [row[0] for row in ledger_rows(out).values()]
    rest = stemboard(*args, "--report", tmp_path / "r.json")
    assert rest.returncode == 0, rest.stderr
    totals = json.loads((tmp_path / "r.json").read_text())["totals"]
    assert totals["done"] + totals["skipped"] == 3 and totals["done"] >= 1


def loopback_only(command: list[str]) -> list[str]:
    """``command`` in a network namespace of its own with only loopback up, so that the Ray
    cluster it starts is reachable from nowhere else (Ray 2.60 binds some of its servers to
    every interface, whatever node address it is given)."""
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, check=False)
    if probe.returncode != 0 or shutil.which("ip") is None:
        pytest.skip("needs unshare --net and ip (root) to keep a test's Ray cluster on loopback")
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *command]


@pytest.mark.slow
def test_the_ray_engine_writes_what_render_writes_and_survives_a_dead_worker(catalogue, tmp_path):
    pytest.importorskip("ray")
    out = tmp_path / "out"
    process = start(
        "batch",
        catalogue,
        "-o",
        out,
        "--preset",
        "karaoke",
        "--model",
        "demo",
        "--device",
        "cpu",
        "--engine",
        "ray",
        "--workers",
        "2",
        "--report",
        tmp_path / "r.json",
        wrap=loopback_only,
    )
    try:
        wait_for_partial(out, process, seconds=240)
        actors = [
            int(entry.name)
            for entry in Path("/proc").iterdir()
            if entry.name.isdigit()
            and b"ray::_Actor" in (entry / "cmdline").read_bytes().split(b"\0")[0]
        ]
        assert actors, "no Ray worker found"
        os.kill(actors[0], signal.SIGKILL)
        _, err = process.communicate(timeout=400)
    finally:
        process.kill()
    assert process.returncode == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["engine"] == "ray" and report["totals"]["done"] == len(TRACKS)
    assert max(track["attempts"] for track in report["tracks"]) <= 3
    graph = load_preset("karaoke", model="demo", device="cpu")
    for name in TRACKS:
        relative = Path(name)
        expected = render_file(graph, catalogue / relative, tmp_path / "single" / relative.parent)
        assert_same_audio(out / relative.parent / relative.stem / "karaoke.wav", expected["mix"])
    assert partial_files(out) == []


def test_the_ray_engine_without_ray_says_how_to_install_it(tmp_path):
    (tmp_path / "hidden" / "ray").mkdir(parents=True)
    (tmp_path / "hidden" / "ray" / "__init__.py").write_text(
        "raise ModuleNotFoundError('No module named ray', name='ray')\n"
    )
    make_catalogue(tmp_path / "music", names=["x.wav"])
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "hidden")}
    done = stemboard(
        "batch",
        tmp_path / "music",
        "-o",
        tmp_path / "out",
        "--stems",
        "all",
        "--model",
        "demo",
        "--engine",
        "ray",
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "stemboard: error: the ray engine needs Ray: pip install 'stemboard[ray]'"
    )
    assert not (tmp_path / "out").exists()
