"""DAW sessions (DAWproject, REAPER) read back by independent readers, and their mix.

A DAWproject is checked against the format's published schema (tests/data/dawproject, from
bitwig/dawproject) with lxml; a REAPER project is parsed by ``rppxml`` (REAPER's own WDL
parser) and by ``rpp``. The mix check sums what those readers return — files, levels, pans,
mutes, solos, groups — and compares it with the mix stemboard rendered.
"""

import io
import json
import math
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from audio_files import read_audio, write_audio
from batch_helpers import make_catalogue
from conftest import registry_environment
from pedalboard import Compressor, Gain, HighpassFilter, Pedalboard, Reverb
from pedalboard.io import AudioFile

from stemboard import cli
from stemboard.errors import PresetError
from stemboard.graph import Bus, Channel, StemGraph, load_preset_file
from stemboard.graph.preset_model import OutputSettings
from stemboard.node import SeparatorNode
from stemboard.render import GraphRender
from stemboard.sessions import colours
from stemboard.sessions.writing import safe_name
from stemboard.signals import music_like

etree = pytest.importorskip("lxml.etree")
rppxml = pytest.importorskip("rppxml")
rpp = pytest.importorskip("rpp")

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = Path(__file__).parent / "data" / "dawproject"


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    return write_audio(tmp_path_factory.mktemp("song") / "song.wav", 0.3 * music_like(3.0, seed=4))


def make_graph(model, *, solo=False):
    """Every kind of strip: a printed chain and pans, a mute, a bus with a chain and a pan, a
    master chain; ``solo`` solos the vocals."""
    return StemGraph(
        SeparatorNode(model, device="cpu"),
        stems={
            "vocals": Channel(Pedalboard([Reverb(room_size=0.4)]), gain_db=-3, pan=0.3, solo=solo),
            "other": Channel(HighpassFilter(cutoff_frequency_hz=200), gain_db=-6, pan=-0.5),
            "bass": Channel(mute=True),
        },
        buses={
            "rhythm": Bus(
                inputs=["drums", "bass"],
                chain=Compressor(threshold_db=-30, ratio=4),
                gain_db=-2,
                pan=0.2,
            )
        },
        master=Pedalboard([Gain(gain_db=-1)]),
    )


def render(graph, song, out, kinds, chains=None):
    job = GraphRender(graph, OutputSettings(bit_depth=32), sessions=kinds, session_chains=chains)
    (track,) = job.plan([song], out, overwrite=True)
    return job.run(track)


def wav(data_or_path):
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else str(data_or_path)
    with AudioFile(source) as f:
        return f.read(f.frames), f.samplerate


# -- what the independent readers return ------------------------------------------------------


def read_dawproject(path):
    """Tracks as the XML says, after validating both documents against the published schema."""
    archive = zipfile.ZipFile(path)
    for document, schema in (("project.xml", "Project.xsd"), ("metadata.xml", "MetaData.xsd")):
        xsd = etree.XMLSchema(etree.parse(str(SCHEMA / schema)))
        tree = etree.fromstring(archive.read(document))
        assert xsd.validate(tree), xsd.error_log
    project = etree.fromstring(archive.read("project.xml"))
    channel_of = {}
    tracks = []
    for element in project.iter("Track"):
        channel = element.find("Channel")
        channel_of[channel.get("id")] = element.get("name")
        tracks.append((element, channel))
    lanes = {lane.get("track"): lane for lane in project.iter("Lanes") if lane.get("track")}
    result = {}
    for element, channel in tracks:
        clips = lanes[element.get("id")].findall("Clips/Clip") if element.get("id") in lanes else []
        audio = None
        if clips:
            (clip,) = clips
            file = clip.find("Audio/File").get("path")
            assert not file.startswith(("/", "..")) and ".." not in Path(file).parts
            samples, rate = wav(archive.read(file))
            assert float(clip.get("time")) == 0.0
            assert math.isclose(float(clip.get("duration")), samples.shape[-1] / rate)
            audio = samples
        result[element.get("name")] = {
            "kind": element.get("contentType"),
            "colour": element.get("color"),
            "comment": element.get("comment", ""),
            "volume": float(channel.find("Volume").get("value")),
            "pan": float(channel.find("Pan").get("value")) * 2 - 1,
            "mute": channel.find("Mute").get("value") == "true",
            "solo": channel.get("solo") == "true",
            "role": channel.get("role"),
            "parent": channel_of.get(channel.get("destination")),
            "devices": [d.tag for d in channel.findall("Devices/*")],
            "audio": audio,
        }
    return result


def read_rpp(path):
    """Tracks as REAPER's own parser (rppxml) reads them; folders from ISBUS."""
    project = rppxml.load(str(path))
    assert project.name == "REAPER_PROJECT"
    second = rpp.loads(Path(path).read_text(encoding="utf-8"))  # an independent parser
    result, stack = {}, []
    for block in project.children:
        if not isinstance(block, rppxml.RPPXML) or block.name != "TRACK":
            continue
        lines = {child[0]: child[1:] for child in block.children if isinstance(child, list)}
        items = [c for c in block.children if isinstance(c, rppxml.RPPXML) and c.name == "ITEM"]
        audio = None
        if items:
            (item,) = items
            fields = {c[0]: c[1:] for c in item.children if isinstance(c, list)}
            (source,) = [
                c for c in item.children if isinstance(c, rppxml.RPPXML) and c.name == "SOURCE"
            ]
            (file,) = [c[1] for c in source.children if isinstance(c, list) and c[0] == "FILE"]
            assert not Path(file).is_absolute() and ".." not in Path(file).parts
            audio, rate = wav(Path(path).parent / file)
            assert float(fields["POSITION"][0]) == 0.0
            assert math.isclose(float(fields["LENGTH"][0]), audio.shape[-1] / rate)
        volume, pan, law = (float(v) for v in lines["VOLPAN"][:3])
        mute, solo = (int(v) for v in lines["MUTESOLO"][:2])
        name = str(lines["NAME"][0])
        result[name] = {
            "kind": "tracks" if int(lines["ISBUS"][0]) == 1 else "audio",
            "volume": volume,
            "pan": pan,
            "pan_law": law,
            "mute": bool(mute),
            "solo": bool(solo),
            "parent": stack[-1] if stack else None,
            "audio": audio,
        }
        flag, change = (int(v) for v in lines["ISBUS"][:2])
        if flag == 1:
            stack.append(name)
        elif flag == 2:
            del stack[len(stack) + change :]
    assert [track.find("NAME")[1] for track in second.findall("TRACK")] == list(result)
    return result


def graph_balance(pan):
    angle = (pan + 1) * math.pi / 4
    return math.sqrt(2) * np.array([[math.cos(angle)], [math.sin(angle)]])


def play(tracks):
    """What a DAW plays: each track's audio at its volume and pan (the graph's constant-power
    balance, the law the REAPER session sets; DAWproject sessions keep pans centred), silent
    when muted or when another track is soloed, summed through its groups."""
    soloed = any(t["solo"] for t in tracks.values())

    def output(name):
        track = tracks[name]
        if track["mute"]:
            return 0
        if track["kind"] == "audio":
            if soloed and not track["solo"]:
                return 0
            signal = track["audio"]
        else:
            signal = sum(output(child) for child, t in tracks.items() if t["parent"] == name)
        return signal * track["volume"] * graph_balance(track["pan"])

    top = [
        n
        for n, t in tracks.items()
        if t["parent"] in (None, "Master") and t.get("role") != "master"
    ]
    return sum(output(name) for name in top)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("solo", [False, True], ids=["levels", "solo"])
def test_both_sessions_play_stemboards_mix(identity_model, song, tmp_path, solo):
    written = render(make_graph(identity_model, solo=solo), song, tmp_path, ["dawproject", "rpp"])
    mix, _ = read_audio(written["mix"])
    for tracks in (
        read_dawproject(written["session:dawproject"]),
        read_rpp(written["session:rpp"]),
    ):
        played = play(tracks)
        assert played.shape == mix.shape
        assert np.max(np.abs(played - mix)) < 1e-4


def test_a_dawproject_holds_the_graphs_tracks_levels_and_groups(identity_model, song, tmp_path):
    written = render(make_graph(identity_model), song, tmp_path, ["dawproject"])
    tracks = read_dawproject(written["session:dawproject"])
    assert list(tracks) == [
        "other",
        "vocals",
        "rhythm",
        "drums",
        "bass",
        "rhythm chain",
        "master chain",
        "Master",
    ]
    assert tracks["rhythm"]["kind"] == "tracks" and tracks["rhythm"]["role"] == "submix"
    assert [n for n, t in tracks.items() if t["parent"] == "rhythm"] == [
        "drums",
        "bass",
        "rhythm chain",
    ]
    assert tracks["vocals"]["parent"] == "Master" and tracks["Master"]["role"] == "master"
    assert tracks["vocals"]["volume"] == pytest.approx(10 ** (-3 / 20))
    assert tracks["rhythm"]["volume"] == pytest.approx(10 ** (-2 / 20))
    assert tracks["bass"]["mute"] and not tracks["drums"]["mute"]
    # DAWproject has no pan law: the pan is printed into the audio and named
    assert tracks["vocals"]["pan"] == 0 and "pan +0.3 printed" in tracks["vocals"]["comment"]
    assert "Reverb(room_size=0.4" in tracks["vocals"]["comment"]
    assert tracks["vocals"]["devices"] == []  # printed: nothing for the DAW to apply again
    sources = ("drums", "bass", "other", "vocals")
    for name, colour in colours.stem_colours(sources).items():
        assert tracks[name]["colour"] == colour
    _, rate = read_audio(song)
    clips = [t for t in tracks.values() if t["kind"] == "audio" and t["role"] != "master"]
    assert len(clips) == 6 and all(t["audio"].shape == (2, 3 * rate) for t in clips)


def test_a_reaper_project_holds_the_graphs_levels_pans_and_folders(identity_model, song, tmp_path):
    written = render(make_graph(identity_model, solo=True), song, tmp_path, ["rpp"])
    path = written["session:rpp"]
    tracks = read_rpp(path)
    assert list(tracks) == [
        "other",
        "vocals",
        "rhythm",
        "drums",
        "bass",
        "rhythm chain",
        "master chain",
    ]
    assert tracks["vocals"]["pan"] == 0.3 and tracks["other"]["pan"] == -0.5
    assert tracks["rhythm"]["pan"] == 0.2 and tracks["rhythm"]["kind"] == "tracks"
    assert {n for n, t in tracks.items() if t["parent"] == "rhythm"} == {
        "drums",
        "bass",
        "rhythm chain",
    }
    assert tracks["master chain"]["parent"] is None
    assert tracks["vocals"]["solo"] and not tracks["other"]["solo"]
    assert tracks["bass"]["mute"]
    assert all(t["pan_law"] == pytest.approx(math.sqrt(2)) for t in tracks.values())
    # moved as a folder, the project still finds its audio
    moved = tmp_path / "moved"
    path.parent.rename(moved)
    assert read_rpp(moved / path.name)["drums"]["audio"] is not None


def test_dry_chains_map_to_dawproject_devices_and_keep_the_dry_stems(
    identity_model, song, tmp_path
):
    graph = make_graph(identity_model)
    written = render(graph, song, tmp_path, ["dawproject"], chains="dry")
    tracks = read_dawproject(written["session:dawproject"])
    assert tracks["other"]["devices"] == ["Equalizer"]
    assert tracks["rhythm"]["devices"] == ["Compressor"]
    assert tracks["vocals"]["devices"] == []  # no reverb device in the format: named instead
    assert "chain: Reverb(" in tracks["vocals"]["comment"]
    assert "rhythm chain" not in tracks and "master chain" not in tracks
    assert tracks["vocals"]["pan"] == pytest.approx(0.3)  # left to the DAW's fader
    original, _ = read_audio(song)
    assert np.allclose(tracks["vocals"]["audio"], original, atol=1e-6)  # the identity model


def test_a_preset_asks_for_sessions_in_its_outputs(identity_model, song, tmp_path):
    preset = tmp_path / "sessions.yaml"
    preset.write_text(
        "stemboard_preset: 1\nname: my mix\nstems:\n  vocals: {gain_db: -4}\n"
        "outputs:\n  mix: false\n  sessions: [rpp, dawproject]\n  session_chains: dry\n"
    )
    loaded = load_preset_file(preset)
    assert loaded.outputs.sessions == ["rpp", "dawproject"]
    argv = ["render", str(preset), str(song), "-o", str(tmp_path / "out"), "--model"]
    assert cli.main([*argv, str(identity_model), "--device", "cpu"]) == 0
    made = sorted(p.name for p in (tmp_path / "out" / "song").iterdir())
    assert made == ["my mix-media", "my mix.dawproject", "my mix.rpp"]
    tracks = read_rpp(tmp_path / "out" / "song" / "my mix.rpp")
    assert tracks["vocals"]["volume"] == pytest.approx(10 ** (-4 / 20))


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ("sessions: [ableton]", "outputs.sessions[0]: unknown session kind 'ableton'"),
        ("sessions: rpp", "outputs.sessions: expected a list"),
        ("session_chains: wet", "outputs.session_chains: unknown session chains"),
        ("mix: false", "nothing to write"),
    ],
)
def test_a_preset_asking_for_a_bad_session_is_refused(tmp_path, outputs, message):
    preset = tmp_path / "bad.yaml"
    preset.write_text(f"stemboard_preset: 1\nname: bad\noutputs:\n  {outputs}\n")
    with pytest.raises(PresetError, match=re.escape(message)):
        load_preset_file(preset)


def test_an_unknown_session_kind_is_a_usage_error_and_writes_nothing(
    identity_model, song, tmp_path, capsys
):
    with pytest.raises(ValueError, match="unknown session kind 'ableton'"):
        GraphRender(make_graph(identity_model), sessions=["ableton"])
    out = tmp_path / "out"
    argv = ["render", "karaoke", str(song), "-o", str(out), "--model", str(identity_model)]
    with pytest.raises(SystemExit) as stopped:
        cli.main([*argv, "--session", "ableton"])
    assert stopped.value.code == 2
    assert "invalid choice: 'ableton'" in capsys.readouterr().err
    assert not out.exists()


def test_a_failed_session_leaves_no_file_of_the_track(identity_model, song, tmp_path, monkeypatch):
    from stemboard.sessions import writing

    def broken(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(writing, "write_rpp", broken)
    with pytest.raises(OSError, match="disk gone"):
        render(make_graph(identity_model), song, tmp_path / "out", ["dawproject", "rpp"])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))


def test_names_are_safe_in_every_daw_and_stay_inside_the_folder(
    make_identity_model, song, tmp_path
):
    model = make_identity_model(tmp_path / "odd.onnx", sources=(".hidden", 'lead "vox"/1', "CON"))
    graph = StemGraph(SeparatorNode(model, device="cpu"))
    written = render(graph, song, tmp_path, ["rpp", "dawproject"])
    media = sorted(p.name for p in (tmp_path / "song" / "session-media").iterdir())
    assert media == ["_CON.wav", "hidden.wav", "lead _vox_1.wav"]
    rpp_tracks = read_rpp(written["session:rpp"])
    assert list(rpp_tracks) == [".hidden", 'lead "vox"/1', "CON"]  # names kept, quoted right
    assert all(t["audio"] is not None for t in rpp_tracks.values())
    assert ".hidden" in read_dawproject(written["session:dawproject"])
    assert safe_name("..") == "track" and safe_name("a" * 200) == "a" * 80


def test_stem_colours_are_the_studios():
    script = (ROOT / "stemboard" / "studio" / "static" / "colours.js").read_text()
    palette = re.search(r"PALETTE = \[(.*?)\]", script).group(1)
    assert tuple(re.findall(r'"(#[0-9a-f]{6})"', palette)) == colours.PALETTE
    named = dict(re.findall(r'\["(\w+)", PALETTE\[(\d)\]\]', script))
    assert {stem: colours.PALETTE[int(i)] for stem, i in named.items()} == colours.NAMED
    assert colours.stem_colours(["speech", "music"]) == {"speech": "#4fb3ff", "music": "#ff8a5c"}


# -- openDAW's reader --------------------------------------------------------------------------

OPENDAW = ("@opendaw/lib-dawproject@0.0.77", "jsdom@26.1.0", "jszip@3.10.1")
"""openDAW's DAWproject schema (with its XML reader, lib-xml), a DOM for it, and a zip reader.
0.0.77: the newest whose dependencies the registry has (0.0.78 asks for a lib-xml never
published)."""
READER = Path(__file__).parent / "js" / "read_dawproject.mjs"


@pytest.fixture(scope="session")
def opendaw(tmp_path_factory):
    """A folder where ``tests/js/read_dawproject.mjs`` runs with openDAW's library, installed
    there by npm from its registry (or npm's cache): skipped, saying why, where that cannot be
    done. Node only runs the script; nothing is installed anywhere else."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("no node and npm to run openDAW's DAWproject reader")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
    if tuple(int(part) for part in version.strip().lstrip("v").split(".")[:2]) < (20, 19):
        pytest.skip(f"openDAW's ES modules need node >= 20.19, this is {version.strip()}")
    folder = tmp_path_factory.mktemp("opendaw")
    command = [npm, "install", "--prefix", str(folder), "--no-save", "--no-audit", "--no-fund"]
    try:
        done = subprocess.run(
            [*command, *OPENDAW],
            capture_output=True,
            text=True,
            timeout=300,
            env=registry_environment(),  # the registry, without the tests' closed proxy
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm did not install {' '.join(OPENDAW)} within 5 minutes")
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        pytest.skip(f"npm cannot install {' '.join(OPENDAW)} (no registry?): {said}")
    shutil.copy(READER, folder)
    return folder


def read_with_opendaw(folder, session):
    """What openDAW's library reads from ``session`` (see tests/js/read_dawproject.mjs)."""
    out = folder / "read.json"
    done = subprocess.run(
        ["node", READER.name, str(session), str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("chains", ["printed", "dry"])
def test_openDAWs_reader_sees_the_graphs_tracks_levels_routing_and_clips(
    opendaw, identity_model, song, tmp_path, chains
):
    graph = make_graph(identity_model, solo=True)
    written = render(graph, song, tmp_path, ["dawproject"], chains)
    frames = read_audio(written["mix"])[0].shape[-1]
    read = read_with_opendaw(opendaw, written["session:dawproject"])
    assert (read["version"], read["application"]["name"], read["title"]) == (
        "1.0",
        "stemboard",
        "session",  # a graph without a preset
    )
    tracks = {track["name"]: track for track in read["tracks"]}
    printed = ["rhythm chain", "master chain"] if chains == "printed" else []
    expected = ["other", "vocals", "rhythm", "drums", "bass", *printed]
    assert [t["name"] for t in read["tracks"]] == [*expected, "Master"]

    strips = {**graph.channels, **graph.buses}
    colours_of = colours.stem_colours(graph.sources)
    for name, strip in strips.items():
        track = tracks[name]
        assert track["volume"] == pytest.approx(10 ** (strip.gain_db / 20)), name
        assert track["volumeUnit"] == "linear" and track["panUnit"] == "normalized"
        pan = (strip.pan + 1) / 2 if chains == "dry" else 0.5  # printed: in the audio
        assert track["pan"] == pytest.approx(pan), name
        assert track["mute"] is strip.mute, name
        assert track["solo"] is (name in graph.channels and strip.solo), name
        bus = graph.routing.feeds.get(name)
        assert (track["parent"], track["destination"]) == (bus, bus or "Master"), name
        is_bus = name in graph.buses
        assert (track["contentType"], track["role"]) == (
            ("tracks", "submix") if is_bus else ("audio", "regular")
        )
        assert track["color"] == (colours.GROUP_COLOUR if is_bus else colours_of[name])
    chain_tracks = {"rhythm chain": "rhythm", "master chain": None} if printed else {}
    for name, bus in chain_tracks.items():  # heard whenever a stem is soloed
        track = tracks[name]
        assert (track["solo"], track["volume"], track["pan"], track["parent"]) == (
            True,
            1.0,
            0.5,
            bus,
        )
        assert track["destination"] == (bus or "Master")
    master = tracks["Master"]
    assert (master["role"], master["destination"], master["volume"]) == ("master", None, 1.0)
    if chains == "dry":  # the EQ openDAW knows; its library has no class for a Compressor
        assert tracks["other"]["devices"] == [
            {
                "kind": "EqualizerSchema",
                "name": "HighpassFilter",
                "role": "audioFX",
                "bands": ["highPass"],
            }
        ]
    assert tracks["vocals"]["devices"] == []  # a reverb is named in the comment only

    audio_tracks = [n for n in expected if n not in graph.buses]
    assert sorted(read["clips"]) == sorted(audio_tracks)
    for name in audio_tracks:
        (clip,) = read["clips"][name]
        assert clip["kind"] == "AudioSchema" and clip["timeUnit"] == "seconds"
        assert (clip["time"], clip["playStart"], clip["external"]) == (0, 0, False)
        assert clip["duration"] == clip["audioDuration"] == pytest.approx(frames / 44100)
        assert clip["path"] == f"audio/{name}.wav"
        assert (clip["sampleRate"], clip["channels"]) == (44100, 2)
        assert clip["wav"] == {
            "format": 3,
            "channels": 2,
            "sampleRate": 44100,
            "bits": 32,
            "frames": frames,
        }
    if chains == "printed":  # what a DAW plays from what openDAW read is stemboard's mix
        archive = zipfile.ZipFile(written["session:dawproject"])
        heard = {
            track["name"]: {
                "kind": track["contentType"],
                "role": track["role"],
                "volume": track["volume"],
                "pan": track["pan"] * 2 - 1,
                "mute": track["mute"],
                "solo": track["solo"],
                "parent": track["parent"],
                "audio": wav(archive.read(read["clips"][track["name"]][0]["path"]))[0]
                if track["name"] in read["clips"]
                else None,
            }
            for track in read["tracks"]
        }
        mix, _ = read_audio(written["mix"])
        assert np.max(np.abs(play(heard) - mix)) < 1e-4


# -- stemboard batch --------------------------------------------------------------------------


def batch_totals(tmp_path, *args):
    """``stemboard batch ARGS`` in this process; the report's totals."""
    report = tmp_path / "report.json"
    assert cli.main([*map(str, args), "--report", str(report), "-q"]) == 0
    return json.loads(report.read_text())["totals"]


def times(folder):
    """Every file under ``folder`` (the ledger aside) with its modification time."""
    return {
        p.relative_to(folder): p.stat().st_mtime_ns
        for p in folder.rglob("*")
        if p.is_file() and ".stemboard" not in p.parts
    }


def test_batch_writes_the_sessions_render_writes_and_makes_only_a_kind_asked_for_later(
    identity_model, tmp_path
):
    music, out = tmp_path / "music", tmp_path / "out"
    make_catalogue(music, seconds=2.0, names=["a.wav", "b.wav"])
    preset = tmp_path / "band.yaml"
    preset.write_text(
        "stemboard_preset: 1\nname: band\nstems: {vocals: {gain_db: -14, pan: 0.5}, "
        "other: {gain_db: -12}}\nbuses: {rhythm: {inputs: [drums, bass], gain_db: -12}}\n"
    )
    batch = ["batch", music, "-o", out, "--preset", preset, "--model", identity_model]
    batch += ["--device", "cpu", "--workers", "1"]

    assert batch_totals(tmp_path, *batch)["done"] == 2  # the mix alone
    before = times(out)
    assert sorted(map(str, before)) == ["a/mix.wav", "b/mix.wav"]

    totals = batch_totals(tmp_path, *batch, "--session", "rpp")
    assert (totals["done"], totals["skipped"]) == (2, 0)
    after = times(out)
    assert {path: after[path] for path in before} == before  # the mixes were left alone
    assert read_rpp(out / "a" / "band.rpp")["rhythm"]["kind"] == "tracks"

    # both kinds and once more: only the DAWproject is new, then nothing is left to do
    both = [*batch, "--session", "rpp", "--session", "dawproject"]
    assert batch_totals(tmp_path, *both)["done"] == 2
    assert {path: times(out)[path] for path in after} == after
    assert batch_totals(tmp_path, *both)["skipped"] == 2

    # what `stemboard render --session` writes, file for file
    rendered = tmp_path / "rendered"
    render_args = ["render", preset, music / "a.wav", "-o", rendered, "--model", identity_model]
    argv = [*render_args, "--device", "cpu", "--session", "dawproject", "--session", "rpp"]
    assert cli.main(list(map(str, argv))) == 0
    ours, theirs = out / "a", rendered / "a"
    assert sorted(p.name for p in ours.rglob("*")) == sorted(p.name for p in theirs.rglob("*"))
    assert (ours / "band.rpp").read_text() == (theirs / "band.rpp").read_text()
    for wav_file in (theirs / "band-media").iterdir():
        assert wav_file.read_bytes() == (ours / "band-media" / wav_file.name).read_bytes()
    ours_zip, theirs_zip = (
        zipfile.ZipFile(ours / "band.dawproject"),
        zipfile.ZipFile(theirs / "band.dawproject"),
    )
    assert ours_zip.namelist() == theirs_zip.namelist()
    assert all(ours_zip.read(n) == theirs_zip.read(n) for n in theirs_zip.namelist())

    # a REAPER session whose media folder went missing is made again, and only it
    shutil.rmtree(out / "b" / "band-media")
    kept = times(out)
    totals = batch_totals(tmp_path, *both)
    assert (totals["done"], totals["skipped"]) == (1, 1)
    now = times(out)
    assert (out / "b" / "band-media" / "drums.wav").is_file()
    assert [path for path in kept if now[path] != kept[path]] == [Path("b/band.rpp")]

    # dry chains are other audio: every file of every track is made again
    totals = batch_totals(tmp_path, *both, "--session-chains", "dry")
    assert totals["done"] == 2
    assert all(times(out)[path] != now[path] for path in before)


def test_batch_refuses_a_session_of_stems_without_a_preset(identity_model, tmp_path, capsys):
    make_catalogue(tmp_path / "music", seconds=1.0, names=["a.wav"])
    argv = ["batch", tmp_path / "music", "-o", tmp_path / "out", "--stems", "all"]
    argv += ["--model", identity_model, "--session", "rpp"]
    assert cli.main(list(map(str, argv))) == 2
    assert "give --preset, not --stems" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as stopped:
        cli.main(["batch", "x.wav", "-o", "out", "--preset", "karaoke", "--session", "logic"])
    assert stopped.value.code == 2
    assert "invalid choice: 'logic'" in capsys.readouterr().err
