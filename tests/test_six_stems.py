"""Six stems everywhere: a model with htdemucs_6s' stems (drums, bass, other, vocals, guitar,
piano) through separate, render with the shipped six-stem preset, batch, evaluate and the
studio; the same preset on a four-stem model is refused, naming the stems it lacks.

The models are identity graphs (every stem is the mix) built by hand, so what each command
writes is checkable sample for sample, in well under a second per separation.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from audio_files import read_audio, write_audio

from stemboard import cli
from stemboard.batch import run_batch
from stemboard.errors import GraphError, PresetError
from stemboard.evaluation import evaluate_folders
from stemboard.graph import Channel, StemGraph
from stemboard.graph.preset_parse import parse_preset
from stemboard.graph.presets import load_graph, read_preset, shipped_presets
from stemboard.node import SeparatorNode
from stemboard.render import render_file, separate_file
from stemboard.signals import music_like

SIX = ("drums", "bass", "other", "vocals", "guitar", "piano")
FOUR = SIX[:4]
RATE = 44100
PRESET = "guitar_lead"
STATIC = Path(__file__).resolve().parents[1] / "stemboard" / "studio" / "static"


@pytest.fixture(scope="module")
def six_model(make_identity_model, tmp_path_factory):
    return make_identity_model(tmp_path_factory.mktemp("six") / "six.onnx", sources=SIX)


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    return write_audio(tmp_path_factory.mktemp("song") / "song.wav", music_like(2.0, seed=6))


def level_db(audio: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(audio, dtype=np.float64))))


def treble_share(audio: np.ndarray) -> float:
    """The share of the energy above 3 kHz."""
    power = np.abs(np.fft.rfft(audio, axis=-1)) ** 2
    return float(power[:, np.fft.rfftfreq(audio.shape[-1], 1 / RATE) > 3000].sum() / power.sum())


# -- separate ---------------------------------------------------------------------------------


def test_separate_writes_every_stem_of_a_six_stem_model(six_model, song, tmp_path, capsys):
    argv = ["separate", str(song), "-o", str(tmp_path), "--model", str(six_model)]
    assert cli.main([*argv, "--device", "cpu", "--bit-depth", "32"]) == 0
    assert sorted(p.name for p in (tmp_path / "song").iterdir()) == sorted(f"{s}.wav" for s in SIX)
    mix, _ = read_audio(song)
    for stem in SIX:
        audio, rate = read_audio(tmp_path / "song" / f"{stem}.wav")
        assert rate == RATE
        np.testing.assert_allclose(audio, mix, atol=1e-6)  # the identity model's stems
    assert "song/guitar.wav" in capsys.readouterr().out


def test_separate_stems_selects_guitar_and_piano(six_model, song, tmp_path):
    argv = ["separate", str(song), "-o", str(tmp_path), "--model", str(six_model)]
    assert cli.main([*argv, "--device", "cpu", "--stems", "guitar,piano"]) == 0
    assert sorted(p.name for p in (tmp_path / "song").iterdir()) == ["guitar.wav", "piano.wav"]


def test_separate_names_every_stem_a_four_stem_model_lacks(identity_model, song, tmp_path, capsys):
    argv = ["separate", str(song), "-o", str(tmp_path / "out"), "--model", str(identity_model)]
    assert cli.main([*argv, "--device", "cpu", "--stems", "guitar,piano,vocals"]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert said == [
        "stemboard: error: unknown stems 'guitar', 'piano'; the model has: "
        "drums, bass, other, vocals"
    ]
    assert not (tmp_path / "out").exists()


# -- presets and render -----------------------------------------------------------------------


def test_several_stems_a_model_lacks_are_named_together(identity_model):
    data = {"stemboard_preset": 1, "stems": {"guitar": {}, "vocals": {}, "piano": {}}}
    with pytest.raises(
        PresetError,
        match=r"^x\.yaml: stems: unknown stems 'guitar', 'piano' "
        r"\(the model has: drums, bass, other, vocals\)$",
    ):
        parse_preset(data, "x.yaml")  # its model: the default, hdemucs_high_musdb_plus
    assert list(parse_preset(data, "x.yaml", sources=SIX).stems) == ["guitar", "vocals", "piano"]
    node = SeparatorNode(identity_model, device="cpu")
    with pytest.raises(GraphError, match=r"^stems: unknown stems 'guitar', 'piano' \(the model"):
        StemGraph(node, stems={"guitar": Channel(gain_db=3), "piano": Channel(mute=True)})


def test_the_six_stem_preset_ships_for_htdemucs_6s_and_checks_against_any_six_stem_model():
    assert PRESET in [path.stem for path in shipped_presets()]
    preset = read_preset(PRESET, sources=SIX)
    assert preset.model.name == "htdemucs_6s"
    assert set(preset.stems) == {"guitar", "piano"}
    assert preset.stems["guitar"].gain_db > 0 > preset.stems["piano"].gain_db
    assert preset.stems["piano"].pan < 0


def test_the_six_stem_preset_raises_the_guitar_and_ducks_the_piano(six_model):
    graph = load_graph(PRESET, model=six_model, device="cpu", precision="fp32")
    audio = music_like(2.0, seed=6)
    out = graph.render_stems(audio, RATE)
    for stem in FOUR:
        np.testing.assert_allclose(out[stem], audio, atol=1e-6)  # untouched
    assert level_db(out["guitar"]) > level_db(audio) + 2.0  # louder, through its compressor
    assert treble_share(out["guitar"]) > 1.3 * treble_share(audio)  # and brighter
    assert level_db(out["piano"]) < level_db(audio) - 6.0  # ducked
    assert treble_share(out["piano"]) < treble_share(audio)  # darker
    assert level_db(out["piano"][0]) > level_db(out["piano"][1]) + 2.0  # to the left
    assert np.abs(out["mix"]).max() <= 10 ** (-1 / 20) + 1e-4  # six stems, under the limiter


def test_render_with_the_six_stem_preset_writes_the_graphs_mix(six_model, song, tmp_path):
    argv = ["render", PRESET, str(song), "-o", str(tmp_path), "--model", str(six_model)]
    assert cli.main([*argv, "--device", "cpu", "--precision", "fp32"]) == 0
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*.wav")] == [
        Path("song/guitar_lead.wav")
    ]
    written, _ = read_audio(tmp_path / "song" / "guitar_lead.wav")
    mix, _ = read_audio(song)
    graph = load_graph(PRESET, model=six_model, device="cpu", precision="fp32")
    np.testing.assert_allclose(written, graph(mix, RATE), atol=1e-6)  # 24-bit, as the preset says


def test_the_six_stem_preset_on_a_four_stem_model_is_refused_naming_guitar_and_piano(
    identity_model, capsys
):
    with pytest.raises(
        PresetError,
        match=r"guitar_lead\.yaml: stems: unknown stems 'guitar', 'piano' "
        r"\(the model has: drums, bass, other, vocals\)$",
    ):
        load_graph(PRESET, model=identity_model, device="cpu")
    assert cli.main(["presets", "validate", PRESET, "--model", str(identity_model)]) == 1
    assert "unknown stems 'guitar', 'piano'" in capsys.readouterr().err


def test_stems_a_known_model_lacks_are_refused_before_it_is_fetched_or_loaded(
    song, tmp_path, capsys, monkeypatch
):
    import stemboard.node.session

    monkeypatch.setattr(stemboard.node.session, "_create", None)  # no model may be loaded
    out = tmp_path / "out"
    high = "hdemucs_high_musdb_plus"  # not here: fetching it would fail (no network in tests)
    runs = [
        (["render", PRESET, str(song), "-o", str(out), "--model", "demo"], 2),
        (["render", PRESET, str(song), "-o", str(out), "--model", high], 2),
        (["batch", str(song), "-o", str(out), "--preset", PRESET, "--model", high], 2),
        (["batch", str(song), "-o", str(out), "--stems", "guitar,piano", "--model", high], 2),
        (["separate", str(song), "-o", str(out), "--stems", "guitar,piano", "--model", high], 1),
    ]
    for argv, status in runs:
        assert cli.main(argv) == status, argv
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and "unknown stems 'guitar', 'piano'" in said[0], (argv, said)
    assert not [path for path in tmp_path.rglob("*") if path.suffix in (".wav", ".onnx", ".pt")]


def test_a_four_stem_preset_runs_on_a_six_stem_model(six_model, song, tmp_path):
    written = render_file("stems_processed", song, tmp_path, model=six_model, device="cpu")
    assert list(written) == list(SIX)  # outputs.stems: all, the model's six


# -- batch ------------------------------------------------------------------------------------


def test_batch_separates_six_stems_and_renders_the_six_stem_preset(six_model, song, tmp_path):
    music = tmp_path / "music"
    (music / "album").mkdir(parents=True)
    shutil.copy(song, music / "album" / "01.wav")
    out = tmp_path / "out"
    common = {"model": str(six_model), "device": "cpu", "workers": 1, "log": lambda _: None}
    assert run_batch([music], out / "stems", stems="all", **common).ok
    assert run_batch([music], out / "mix", preset=PRESET, **common).ok
    stems = out / "stems" / "album" / "01"
    assert sorted(p.name for p in stems.iterdir()) == sorted(f"{s}.wav" for s in SIX)
    node = SeparatorNode(six_model, device="cpu")
    for stem, path in separate_file(node, song, tmp_path / "single").items():
        assert np.array_equal(read_audio(stems / f"{stem}.wav")[0], read_audio(path)[0]), stem
    rendered = render_file(PRESET, song, tmp_path / "render", model=six_model, device="cpu")
    got, _ = read_audio(out / "mix" / "album" / "01" / "guitar_lead.wav")
    assert np.array_equal(got, read_audio(rendered["mix"])[0])


# -- evaluate ---------------------------------------------------------------------------------


def test_evaluate_scores_all_six_stems_in_the_models_order(tmp_path, capsys):
    rng = np.random.default_rng(0)
    reference, estimate = tmp_path / "reference", tmp_path / "estimate"
    reference.mkdir()
    estimate.mkdir()
    for index, stem in enumerate(reversed(SIX)):  # written in another order
        true = (0.2 * rng.standard_normal((2, RATE // 4))).astype(np.float32)
        noise = (10 ** (-(10 + 5 * index) / 20)) * 0.2 * rng.standard_normal((2, RATE // 4))
        write_audio(reference / f"{stem}.wav", true)
        write_audio(estimate / f"{stem}.wav", (true + noise).astype(np.float32))
    scores = tmp_path / "scores.json"
    argv = ["evaluate", "--reference", str(reference), "--estimate", str(estimate)]
    assert cli.main([*argv, "--json", str(scores)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in table[1:8]] == [*SIX, "mean"]
    result = json.loads(scores.read_text())
    assert list(result["stems"]) == list(SIX) and result["notes"] == []
    for index, stem in enumerate(reversed(SIX)):
        assert result["stems"][stem]["mdx_sdr"] == pytest.approx(10 + 5 * index, abs=0.3)


def test_evaluate_compares_a_six_stem_separation_with_four_references(
    six_model, song, tmp_path, capsys
):
    assert cli.main(["separate", str(song), "-o", str(tmp_path), "--model", str(six_model)]) == 0
    reference = tmp_path / "reference"
    reference.mkdir()
    for stem in FOUR:
        shutil.copy(tmp_path / "song" / f"{stem}.wav", reference / f"{stem}.wav")
    result = evaluate_folders(reference, tmp_path / "song", segment=(0.5, 0.75))
    assert list(result.stems) == list(FOUR)
    assert [note.split(":")[0] for note in result.notes] == ["guitar", "piano"]
    assert "only in the estimate folder" in result.notes[0]


# -- the studio -------------------------------------------------------------------------------


@pytest.fixture
def studio_client(six_model, tmp_path):
    """The studio on the six-stem model, through Starlette's test client."""
    pytest.importorskip("starlette", reason="no studio extra: pip install 'stemboard[studio]'")
    from starlette.testclient import TestClient

    from stemboard.studio.app import create_app
    from stemboard.studio.workspace import Studio

    studio = Studio(six_model, out_dir=tmp_path / "studio-out", cache=tmp_path / "cache")
    try:
        with TestClient(create_app(studio, ["testserver"])) as client:
            yield studio, client
    finally:
        studio.close()


def wait_until_done(client, path: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = client.get(path).json()
        if answer.get("job", answer)["state"] in ("done", "failed"):
            return answer
        time.sleep(0.05)
    pytest.fail(f"{path} still not done after 60 s")


def test_the_studio_serves_six_stems_and_offers_the_six_stem_preset(
    studio_client, six_model, song, tmp_path
):
    studio, client = studio_client
    info = client.get("/api/info").json()
    assert info["model"]["sources"] == list(SIX)
    shipped = [path.stem for path in shipped_presets()]
    assert info["presets"] == shipped  # a six-stem model runs the four-stem presets too
    assert client.get("/api/presets").json()["presets"] == shipped

    answer = client.post("/api/tracks", params={"name": "song.wav"}, content=song.read_bytes())
    assert answer.status_code == 201, answer.text
    track = answer.json()["id"]
    assert wait_until_done(client, f"/api/tracks/{track}")["stems_ready"]
    mix, _ = read_audio(song)
    for stem in ("guitar", "piano"):
        answer = client.get(f"/api/tracks/{track}/stems/{stem}.wav")
        assert answer.status_code == 200
        (tmp_path / f"{stem}.wav").write_bytes(answer.content)
        np.testing.assert_allclose(read_audio(tmp_path / f"{stem}.wav")[0], mix, atol=1e-6)
    peaks = client.get(f"/api/tracks/{track}/peaks", params={"buckets": 32}).json()["peaks"]
    assert list(peaks) == list(SIX)

    preset = client.get(f"/api/presets/{PRESET}").json()["preset"]
    assert set(preset["stems"]) == {"guitar", "piano"}
    assert preset["model"]["name"] == studio.model.name  # the studio's model, not the file's
    answer = client.post(
        f"/api/tracks/{track}/preview",
        json={"preset": preset, "start": 0, "end": 1, "mode": "stems"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-stemboard-outputs"].split(",") == list(SIX)

    answer = client.post(f"/api/tracks/{track}/export", json={"preset": preset})
    assert answer.status_code == 202, answer.text
    job = wait_until_done(client, f"/api/jobs/{answer.json()['id']}")
    assert job["state"] == "done", job
    [exported] = job["files"]
    rendered = render_file(PRESET, song, tmp_path / "rendered", model=six_model, device="cpu")
    assert np.array_equal(read_audio(exported["path"])[0], read_audio(rendered["mix"])[0])


def test_stem_colours_follow_the_stems_names_not_their_places():
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to run the page's module")
    script = (
        f"import {{ stemColours }} from {json.dumps((STATIC / 'colours.js').as_uri())};\n"
        "const models = [['drums', 'bass', 'other', 'vocals'], "
        "['drums', 'bass', 'other', 'vocals', 'guitar', 'piano'], ['piano', 'guitar', 'drums'], "
        "['speech', 'music'], ['vocals', 'accompaniment']];\n"
        "console.log(JSON.stringify(models.map(stemColours)));\n"
    )
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    four, six, reordered, other, karaoke = json.loads(done.stdout)
    assert six[:4] == four and len(set(six)) == 6  # guitar and piano: two colours of their own
    assert reordered == [six[5], six[4], six[0]]  # a stem's colour is its name's
    assert other == four[:2]  # other names take the palette in order
    assert karaoke == [four[3], four[0]] and len(set(karaoke)) == 2


# -- the studio's page, in a browser ----------------------------------------------------------


@pytest.mark.browser
def test_the_studios_page_shows_six_strips_coloured_by_stem(six_model, identity_model, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium: apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="no playwright")
    pytest.importorskip("starlette", reason="no studio extra: pip install 'stemboard[studio]'")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        try:
            strips = {
                len(model_sources): page_strips(browser, model, tmp_path / str(len(model_sources)))
                for model, model_sources in ((six_model, SIX), (identity_model, FOUR))
            }
        finally:
            browser.close()
    names = [name for name, _ in strips[6]]
    assert names == list(SIX)
    colours = dict(strips[6])
    assert len(set(colours.values())) == 6
    assert [colours[name] for name in FOUR] == [colour for _, colour in strips[4]]


def page_strips(browser, model: Path, folder: Path) -> list[tuple[str, str]]:
    """``stemboard studio --model MODEL`` opened in ``browser``: each stem strip's name and
    colour, in the page's order."""
    env = {**os.environ, "STEMBOARD_CACHE": str(folder / "cache")}
    argv = ["studio", "--model", str(model), "--device", "cpu", "--no-browser", "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "stemboard.cli", *argv, "--out", str(folder / "out")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        said = []
        for line in process.stdout:
            said.append(line)
            found = re.search(r"stemboard studio: (http://127\.0\.0\.1:\d+/)", line)
            if found:
                break
        else:
            pytest.fail("stemboard studio printed no URL:\n" + "".join(said))
        page = browser.new_page()
        page.goto(found.group(1))
        page.wait_for_selector('#track-status[data-state="idle"]')
        found = page.eval_on_selector_all(
            "#stem-strips .strip-stem",
            "(strips) => strips.map((s) => [s.dataset.strip, "
            "s.style.getPropertyValue('--strip-colour')])",
        )
        page.close()
        return [tuple(strip) for strip in found]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
