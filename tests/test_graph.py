"""StemGraph: exact routing arithmetic, alignment, tails, streaming equals offline."""

import numpy as np
import pytest
from pedalboard import Compressor, Delay, Gain, LadderFilter, Pedalboard, Resample, Reverb

from stemboard.errors import GraphError
from stemboard.graph.graph import Bus, Channel, StemGraph
from stemboard.node import SeparatorNode


@pytest.fixture(scope="module")
def identity(identity_model):
    """A separator whose every stem is the input."""
    return SeparatorNode(identity_model, device="cpu")


def _audio(n=30_000, seed=0):
    return np.random.default_rng(seed).uniform(-0.3, 0.3, (2, n)).astype(np.float32)


def _db(value):
    return 10 ** (value / 20)


def test_gain_chains_give_exactly_the_weighted_sum(identity):
    x = _audio()
    graph = StemGraph(
        identity,
        stems={
            "drums": Gain(gain_db=6.0),
            "bass": Channel(chain=Gain(gain_db=-6.0), gain_db=3.0),
            "other": Channel(mute=True),
        },
    )
    expected = (_db(6) + _db(-3) + 1.0) * x  # drums, bass, vocals; other muted
    np.testing.assert_allclose(graph(x, 44100), expected, atol=1e-5)


def test_buses_feed_buses_and_only_the_top_reaches_the_master(identity):
    x = _audio()
    graph = StemGraph(
        identity,
        buses={
            "rhythm": Bus(inputs=["drums", "bass"], chain=Gain(gain_db=-6.0)),
            "band": Bus(inputs=["rhythm", "other"], gain_db=-6.0),
        },
        master=Gain(gain_db=6.0),
    )
    rhythm = 2 * x * _db(-6)
    band = (rhythm + x) * _db(-6)
    np.testing.assert_allclose(graph(x, 44100), (band + x) * _db(6), atol=1e-5)
    rendered = graph.render_stems(x, 44100)
    assert set(rendered) == {"drums", "bass", "other", "vocals", "rhythm", "band", "mix"}
    np.testing.assert_allclose(rendered["rhythm"], rhythm, atol=1e-5)


def test_solo_silences_the_others_and_pan_is_constant_power(identity):
    x = _audio()
    graph = StemGraph(identity, stems={"vocals": Channel(solo=True, pan=-1.0)})
    out = graph(x, 44100)
    np.testing.assert_allclose(out[0], np.sqrt(2) * x[0], atol=1e-5)
    np.testing.assert_allclose(out[1], 0, atol=1e-6)
    centre = StemGraph(identity, stems={"vocals": Channel(solo=True, pan=0.0)})
    np.testing.assert_allclose(centre(x, 44100), x, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stems": {"guitar": Gain()}}, "unknown stem 'guitar'"),
        ({"buses": {"a": Bus(inputs=["b"]), "b": Bus(inputs=["a"])}}, "cycle: a -> b -> a"),
        ({"buses": {"a": Bus(inputs=["piano"])}}, "unknown input 'piano'"),
        ({"buses": {"drums": Bus(inputs=["bass"])}}, "is also a stem name"),
        ({"buses": {"a": Bus(inputs=[])}}, "needs at least one input"),
        (
            {"buses": {"a": Bus(inputs=["drums"]), "b": Bus(inputs=["drums"])}},
            "'drums' already feeds bus 'a'",
        ),
        ({"buses": {"mix": Bus(inputs=["bass"])}}, "reserved for the mix"),
        ({"buses": {"master": Bus(inputs=["bass"])}}, "reserved for the master chain"),
        ({"stems": {"vocals": "reverb"}}, r"stems\.vocals\.chain: expected a pedalboard plugin"),
        ({"stems": {"vocals": [Reverb()]}}, r"wrap a list of plugins in pedalboard\.Pedalboard"),
        ({"master": 3}, "master: expected a pedalboard plugin"),
        ({"tail_seconds": -1.0}, "tail_seconds"),
        ({"tail_seconds": 61.0}, r"tail_seconds: 61.0 is out of range \(expected \[0, 60\]\)"),
    ],
)
def test_bad_graphs_are_refused_when_built(identity, kwargs, message):
    with pytest.raises(GraphError, match=message) as caught:
        StemGraph(identity, **kwargs)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Channel(pan=2.0), r"pan: 2.0 is out of range \(expected \[-1, 1\]\)"),
        (lambda: Channel(gain_db=800), r"gain_db: 800 is out of range \(expected \[-120, 60\]\)"),
        (lambda: Channel(gain_db=1e9), "gain_db: 1000000000.0 is out of range"),
        (lambda: Channel(gain_db=float("nan")), "gain_db: nan is out of range"),
        (lambda: Channel(mute=1), "mute: expected true or false, got 1"),
        (lambda: Bus(inputs=["drums"], pan="left"), "pan: expected a number, got 'left'"),
        (lambda: Channel(chain=object()), "chain: expected a pedalboard plugin"),
    ],
)
def test_bad_strip_settings_are_refused_when_set(make, message):
    with pytest.raises(GraphError, match=message):
        make()


def test_levels_changed_while_streaming_take_effect_at_the_next_block(identity):
    x = _audio(60_000, 4)
    graph = StemGraph(identity, buses={"rhythm": Bus(inputs=["drums", "bass"])})
    first = graph.process(x[:, :20_000], 44100, reset=False)
    graph.channels["vocals"].mute = True
    graph.buses["rhythm"].gain_db = -6.0
    second = graph.process(x[:, 20_000:], 44100, reset=False)
    rest = graph.flush()
    before = 4 * x
    after = (2 * _db(-6) + 1) * x
    np.testing.assert_allclose(first, before[:, : first.shape[-1]], atol=1e-5)
    done = first.shape[-1] + second.shape[-1]
    np.testing.assert_allclose(
        np.concatenate([second, rest], axis=-1)[:, done - first.shape[-1] :],
        after[:, done:],
        atol=1e-5,
    )


def test_solo_and_pan_changes_apply_to_the_next_render(identity):
    x = _audio()
    graph = StemGraph(identity)
    np.testing.assert_allclose(graph(x, 44100), 4 * x, atol=1e-5)
    graph.channels["bass"].solo = True
    graph.channels["bass"].pan = -1.0
    out = graph(x, 44100)
    np.testing.assert_allclose(out[0], np.sqrt(2) * x[0], atol=1e-5)
    np.testing.assert_allclose(out[1], 0, atol=1e-6)


def test_routing_and_the_strip_mappings_cannot_be_changed_after_construction(identity):
    graph = StemGraph(identity, buses={"rhythm": Bus(inputs=["drums", "bass"])})
    with pytest.raises(TypeError):
        graph.channels["guitar"] = Channel()
    with pytest.raises(TypeError):
        graph.buses["new"] = Bus(inputs=["other"])
    with pytest.raises(AttributeError):
        graph.buses["rhythm"].inputs = ["other"]
    with pytest.raises(GraphError, match="gain_db"):
        graph.channels["drums"].gain_db = 100
    assert graph.channels["drums"].gain_db == 0.0


def test_a_new_chain_takes_effect_when_the_next_stream_starts(identity):
    x = _audio()
    graph = StemGraph(identity, stems={"drums": Gain(gain_db=-6)})
    first = graph.process(x[:, :10_000], 44100, reset=False)
    graph.channels["drums"].chain = Gain(gain_db=6)
    streamed = np.concatenate(
        [first, graph.process(x[:, 10_000:], 44100, reset=False), graph.flush()], axis=-1
    )
    np.testing.assert_allclose(streamed, (_db(-6) + 3) * x, atol=1e-5)  # still the old chain
    np.testing.assert_allclose(graph(x, 44100), (_db(6) + 3) * x, atol=1e-5)


def test_the_graph_runs_on_stems_already_separated(identity):
    x = _audio(25_000, 7)
    graph = StemGraph(
        identity,
        stems={"vocals": Channel(chain=Reverb(room_size=0.5), pan=0.3), "bass": Channel(mute=True)},
        buses={"rhythm": Bus(inputs=["drums", "other"], chain=Gain(gain_db=-3))},
        tail_seconds=0.2,
    )
    expected = graph.render_stems(x, 44100)
    stems = identity.separate(x, 44100)
    stream = graph.open_stream(44100, separated=True)
    stacked = np.stack([stems[name] for name in identity.sources])
    first = stream.push(stacked[..., :10_000])
    second = stream.push(stacked[..., 10_000:])
    rest = stream.finish()
    for name in expected:
        got = np.concatenate([first[name], second[name], rest[name]], axis=-1)
        np.testing.assert_allclose(got, expected[name], atol=1e-5)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 8191, 8193])
def test_every_length_works_including_zero_one_and_two_samples(identity, n):
    x = _audio(n, n)
    graph = StemGraph(identity, stems={"drums": Reverb()}, master=Gain(gain_db=-1))
    graph(_audio(100), 44100)  # a [2, 2] array is square: the layout of the last call decides
    out = graph(x, 44100)
    assert out.shape == (2, n)
    mono = graph(x[0], 44100)
    assert mono.shape == (n,)


def _chains():
    return {
        "drums": Pedalboard([Compressor(threshold_db=-20, ratio=4), LadderFilter()]),
        "vocals": Pedalboard([Delay(delay_seconds=0.05, mix=0.3), Reverb(room_size=0.7)]),
        "bass": Resample(target_sample_rate=11025),  # a plugin with latency
    }


def test_streaming_in_any_blocks_equals_offline(identity):
    x = _audio(40_000, 3)
    graph = StemGraph(identity, stems=_chains(), tail_seconds=0.5)
    offline = graph(x, 44100)
    assert offline.shape == (2, 40_000 + 22_050)
    rng = np.random.default_rng(1)
    parts, position = [], 0
    while position < x.shape[-1]:
        size = int(rng.integers(1, 9000))
        parts.append(graph.process(x[:, position : position + size], 44100, reset=False))
        position += size
    parts.append(graph.flush())
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), offline, atol=1e-5)


def test_chains_with_latency_stay_aligned_with_the_others(identity):
    x = np.zeros((2, 20_000), np.float32)
    x[:, 5000] = 0.5
    graph = StemGraph(identity, stems={"bass": Resample(target_sample_rate=22050)})
    rendered = graph.render_stems(x, 44100)
    peak_bass = int(np.argmax(np.abs(rendered["bass"][0])))
    peak_drums = int(np.argmax(np.abs(rendered["drums"][0])))
    assert peak_drums == 5000
    assert abs(peak_bass - peak_drums) <= 2


def test_tail_keeps_the_reverb_after_the_input_ends(identity):
    x = _audio(10_000)
    graph = StemGraph(identity, stems={"vocals": Reverb(room_size=0.9)}, tail_seconds=1.0)
    out = graph(x, 44100)
    assert out.shape == (2, 10_000 + 44_100)
    assert np.abs(out[:, 20_000:]).max() > 1e-4
    no_tail = StemGraph(identity, stems={"vocals": Reverb(room_size=0.9)})
    assert no_tail(x, 44100).shape == x.shape


def test_mono_and_channels_last_come_back_as_given(identity):
    x = _audio()
    graph = StemGraph(identity, stems={"drums": Gain(gain_db=-6)})
    assert graph(x.T.copy(), 44100).shape == x.T.shape
    mono = graph(x[0], 44100)
    assert mono.shape == (x.shape[1],)


def test_another_stemboard_node_can_be_a_stem_chain(identity, identity_model):
    x = _audio(50_000, 9)
    inner = SeparatorNode(identity_model, device="cpu", gains={"drums": 0.5, "bass": 0, "other": 0})
    graph = StemGraph(identity, stems={"vocals": inner, "drums": Channel(mute=True)})
    # vocals -> inner node (0.5 + 1 of its input); bass, other pass; drums muted
    np.testing.assert_allclose(graph(x, 44100), 1.5 * x + 2 * x, atol=1e-4)


@pytest.mark.parametrize(
    "chain, message",
    [
        (Delay(feedback=1.0), r"stems\.vocals\.chain: Delay\.feedback=1\.0 is out of range"),
        (
            Pedalboard([Gain(), Gain(gain_db=100)]),
            r"stems\.vocals\.chain\[1\]: Gain\.gain_db=100\.0 is out of range",
        ),
    ],
)
def test_effects_beyond_what_a_preset_accepts_are_refused(identity, chain, message):
    with pytest.raises(GraphError, match=message):
        StemGraph(identity, stems={"vocals": chain})
    with pytest.raises(GraphError, match=r"Delay\.feedback|Gain\.gain_db"):
        Channel(chain=chain)
