"""A :class:`~stemboard.sessions.contents.Session` as a DAWproject file (Bitwig's open format).

A ``.dawproject`` is a zip of ``project.xml`` (the tracks, their channels and the arrangement,
as the format's ``Project.xsd`` defines them), ``metadata.xml`` and the audio, here under
``audio/`` as 32-bit float WAV; paths inside are relative to the zip, so the file holds all it
needs. Mapping:

- a stem is an audio ``Track`` (``contentType="audio"``) whose ``Channel`` sends to its bus's
  channel or to the master; a bus is a group ``Track`` (``contentType="tracks"``, its channel's
  role ``submix``) holding the tracks that feed it; the master is a ``Track`` whose channel's
  role is ``master``.
- gain is the channel's ``Volume`` (``unit="linear"``), pan its ``Pan`` (``unit="normalized"``:
  0 left, 0.5 centre, 1 right), mute its ``Mute``, solo the channel's ``solo`` attribute.
- each audio track has one ``Clip`` at 0 s, as long as the song, holding its ``Audio`` file;
  the arrangement counts in seconds (``timeUnit="seconds"``), so no tempo is needed.
- chains left to the DAW (``--session-chains dry``): compressor, gate, limiter and EQ effects
  become the format's ``Compressor``, ``NoiseGate``, ``Limiter`` and ``Equalizer`` devices; the
  track's ``comment`` lists the whole chain.

DAWproject defines no pan law, so each DAW pans by its own: sessions for it are made with the
pan printed into the audio (``pan="printed"``) unless the chains are left dry.

Example::

    write_dawproject(session, "out/song/karaoke.dawproject")
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

from stemboard.atomic import PARTIAL
from stemboard.sessions.contents import MAPPED_EFFECTS, Session, SessionTrack
from stemboard.sessions.wav import write_wavs
from stemboard.version import __version__

FORMAT_VERSION = "1.0"
AUDIO_FOLDER = "audio"


class _Ids:
    """``id0``, ``id1``, ...: the document's ``xs:ID`` values, in order of use."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"id{self.count - 1}"


def _number(value: float) -> str:
    return repr(float(value))


def _parameter(parent, tag: str, ids: _Ids, name: str, unit: str, value: float, low, high):
    element = ElementTree.SubElement(parent, tag, id=ids(), name=name, unit=unit)
    element.set("value", _number(value))
    if low is not None:
        element.set("min", _number(low))
        element.set("max", _number(high))
    return element


def _devices(parent, track: SessionTrack, ids: _Ids) -> None:
    """The chain's effects the format has devices for, in order."""
    mapped = [spec for spec in track.chain if spec["plugin"] in MAPPED_EFFECTS]
    if not mapped:
        return
    devices = ElementTree.SubElement(parent, "Devices")
    for spec in mapped:
        kind = MAPPED_EFFECTS[spec["plugin"]]
        device = ElementTree.SubElement(
            devices,
            kind,
            id=ids(),
            name=spec["plugin"],
            deviceName=kind,
            deviceRole="audioFX",
            loaded="true",
        )
        ElementTree.SubElement(device, "Enabled", id=ids(), name="On/Off", value="true")
        if kind == "Equalizer":
            _band(device, spec, ids)
        else:
            _dynamics(device, kind, spec, ids)


_DYNAMICS = {
    # device element: (spec key, unit, scale)
    "Threshold": (("threshold_db", "ceiling_db"), "decibel", 1.0),
    "Ratio": (("ratio",), "linear", 1.0),
    "Attack": (("attack_ms",), "seconds", 1e-3),
    "Release": (("release_ms",), "seconds", 1e-3),
}
_DEVICE_ORDER = {
    "Compressor": ("Attack", "Ratio", "Release", "Threshold"),
    "NoiseGate": ("Attack", "Ratio", "Release", "Threshold"),
    "Limiter": ("Attack", "Release", "Threshold"),
}
_BANDS = {
    "HighpassFilter": "highPass",
    "LowpassFilter": "lowPass",
    "HighShelfFilter": "highShelf",
    "LowShelfFilter": "lowShelf",
    "PeakFilter": "bell",
}


def _dynamics(device, kind: str, spec: dict, ids: _Ids) -> None:
    for tag in _DEVICE_ORDER[kind]:
        keys, unit, scale = _DYNAMICS[tag]
        for key in keys:
            if key in spec:
                _parameter(device, tag, ids, tag, unit, spec[key] * scale, None, None)


def _band(device, spec: dict, ids: _Ids) -> None:
    band = ElementTree.SubElement(device, "Band", type=_BANDS[spec["plugin"]], order="0")
    _parameter(band, "Freq", ids, "Frequency", "hertz", spec["cutoff_frequency_hz"], None, None)
    if "gain_db" in spec:
        _parameter(band, "Gain", ids, "Gain", "decibel", spec["gain_db"], None, None)
    if "q" in spec:
        _parameter(band, "Q", ids, "Q", "linear", spec["q"], None, None)


def _channel(
    parent, track: SessionTrack, role: str, destination: str | None, ids: _Ids, devices: bool
):
    """The track's mixer channel: devices (for chains left to the DAW), mute, pan, volume;
    solo as an attribute."""
    channel = ElementTree.SubElement(parent, "Channel", id=ids(), role=role, audioChannels="2")
    if destination is not None:
        channel.set("destination", destination)
    channel.set("solo", str(track.solo).lower())
    if devices:
        _devices(channel, track, ids)
    ElementTree.SubElement(channel, "Mute", id=ids(), name="Mute", value=str(track.mute).lower())
    _parameter(channel, "Pan", ids, "Pan", "normalized", (track.pan + 1.0) / 2.0, 0.0, 1.0)
    volume = 10.0 ** (track.gain_db / 20.0)
    _parameter(channel, "Volume", ids, "Volume", "linear", volume, 0.0, max(2.0, volume))
    return channel


def project_xml(session: Session, files: dict[str, str]) -> bytes:
    """``project.xml`` of ``session``; ``files`` maps an audio track's key to its path."""
    ids = _Ids()
    project = ElementTree.Element("Project", version=FORMAT_VERSION)
    ElementTree.SubElement(project, "Application", name="stemboard", version=__version__)
    structure = ElementTree.SubElement(project, "Structure")
    master = ElementTree.Element("Track", name="Master", contentType="audio")
    master_channel_id = "master"  # the master's channel id is known once the tracks have theirs
    elements: dict[str, tuple[ElementTree.Element, ElementTree.Element]] = {}
    for track in session.tracks:
        holder = structure if track.parent is None else elements[track.parent][0]
        element = ElementTree.SubElement(
            holder,
            "Track",
            id=ids(),
            name=track.name,
            color=track.colour,
            contentType="audio" if track.kind == "audio" else "tracks",
            loaded="true",
        )
        if track.comment:
            element.set("comment", track.comment)
        destination = (
            master_channel_id if track.parent is None else elements[track.parent][1].get("id")
        )
        role = "regular" if track.kind == "audio" else "submix"
        dry = session.chains == "dry"
        channel = _channel(element, track, role, destination, ids, dry)
        elements[track.key] = (element, channel)
    master.set("id", ids())
    if session.master_comment:
        master.set("comment", session.master_comment)
    strip = SessionTrack("master", "Master", "group", None, "", chain=session.master_chain)
    master_channel = _channel(master, strip, "master", None, ids, session.chains == "dry")
    structure.append(master)
    for element in structure.iter("Channel"):
        if element.get("destination") == master_channel_id:
            element.set("destination", master_channel.get("id"))
    arrangement = ElementTree.SubElement(project, "Arrangement", id=ids())
    lanes = ElementTree.SubElement(arrangement, "Lanes", id=ids(), timeUnit="seconds")
    for track in session.audio_tracks():
        lane = ElementTree.SubElement(
            lanes, "Lanes", id=ids(), track=elements[track.key][0].get("id")
        )
        clips = ElementTree.SubElement(lane, "Clips", id=ids())
        clip = ElementTree.SubElement(
            clips,
            "Clip",
            name=track.name,
            time="0.0",
            duration=_number(session.seconds),
            playStart="0.0",
        )
        audio = ElementTree.SubElement(
            clip,
            "Audio",
            id=ids(),
            channels="2",
            sampleRate=str(session.sample_rate),
            duration=_number(session.seconds),
            algorithm="raw",
        )
        ElementTree.SubElement(audio, "File", path=files[track.key])
    ElementTree.indent(project)
    return ElementTree.tostring(project, encoding="utf-8", xml_declaration=True)


def metadata_xml(session: Session) -> bytes:
    root = ElementTree.Element("MetaData")
    ElementTree.SubElement(root, "Title").text = session.name
    ElementTree.SubElement(root, "Comment").text = f"stems and levels from stemboard {__version__}"
    ElementTree.indent(root)
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def write_dawproject(
    session: Session, target: str | os.PathLike, file_names: dict[str, str]
) -> Path:
    """Write ``session`` as a ``.dawproject`` zip at ``target`` (a path the caller made safe
    and atomic); ``file_names`` maps each audio track's key to its WAV's file name.

    The WAVs are written first into a hidden folder beside ``target`` (named as a temporary
    file of it, so that a batch's clean-up after a killed worker finds it) and removed once
    they are in the zip."""
    target = Path(target)
    files = {key: f"{AUDIO_FOLDER}/{name}" for key, name in file_names.items()}
    with tempfile.TemporaryDirectory(
        dir=target.parent, prefix=f"{target.name}.", suffix=PARTIAL
    ) as scratch:
        audio = write_wavs(session, Path(scratch), file_names)
        with zipfile.ZipFile(target, "w") as archive:
            archive.writestr("project.xml", project_xml(session, files), zipfile.ZIP_DEFLATED)
            archive.writestr("metadata.xml", metadata_xml(session), zipfile.ZIP_DEFLATED)
            for key, path in audio.items():
                archive.write(path, files[key], zipfile.ZIP_STORED)
    return target
