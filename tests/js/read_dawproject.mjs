// read_dawproject.mjs: a .dawproject read by openDAW's implementation of the format, as JSON.
//
// node read_dawproject.mjs FILE.dawproject OUT.json   (run from a folder whose node_modules
// holds @opendaw/lib-dawproject, jsdom and jszip; tests/test_sessions.py installs them there)
//
// The zip is opened with JSZip, project.xml and metadata.xml are deserialised by openDAW's
// lib-xml into lib-dawproject's schema classes (ProjectSchema, MetaDataSchema), and every audio
// file a clip names is looked up in the zip and its WAV header read. Prints what a DAW importing
// the file would see: tracks (nesting, channel role, volume, pan, mute, solo, destination,
// devices) and the clips of each track's lane.

import { readFile, writeFile } from "node:fs/promises";
import { register } from "node:module";

// openDAW publishes ES modules with extension-less relative imports (for bundlers): add ".js".
const hooks = `export async function resolve(specifier, context, next) {
  try { return await next(specifier, context); } catch (error) {
    if (error.code !== "ERR_MODULE_NOT_FOUND" || !specifier.startsWith(".")) throw error;
    return next(specifier + ".js", context);
  }
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

const { JSDOM } = await import("jsdom");
globalThis.DOMParser = new JSDOM("").window.DOMParser; // lib-xml parses with the DOM's parser
const JSZip = (await import("jszip")).default;
const { Xml } = await import("@opendaw/lib-xml");
const { ProjectSchema, MetaDataSchema, ParameterDecoder } = await import("@opendaw/lib-dawproject");

/** Sample rate, channels, bits and frames of a RIFF/WAVE file's bytes. */
function wavHeader(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = (at) => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (text(0) !== "RIFF" || text(8) !== "WAVE") throw new Error("not a RIFF/WAVE file");
  const header = {};
  for (let at = 12; at + 8 <= bytes.length; ) {
    const size = view.getUint32(at + 4, true);
    if (text(at) === "fmt ") {
      header.format = view.getUint16(at + 8, true);
      header.channels = view.getUint16(at + 10, true);
      header.sampleRate = view.getUint32(at + 12, true);
      header.bits = view.getUint16(at + 22, true);
    } else if (text(at) === "data") {
      header.frames = size / (header.channels * (header.bits / 8));
    }
    at += 8 + size + (size % 2);
  }
  return header;
}

const archive = await JSZip.loadAsync(await readFile(process.argv[2]));
const project = Xml.parse(await archive.file("project.xml").async("string"), ProjectSchema);
const metadata = Xml.parse(await archive.file("metadata.xml").async("string"), MetaDataSchema);

const tracks = [];
const channelOwner = new Map();
function walk(lanes, parent) {
  for (const track of lanes) {
    if (track.constructor.name !== "TrackSchema") continue;
    const channel = track.channel;
    channelOwner.set(channel.id, track.name);
    tracks.push({
      id: track.id,
      name: track.name,
      contentType: track.contentType,
      color: track.color,
      parent,
      role: channel.role,
      audioChannels: channel.audioChannels,
      volume: ParameterDecoder.readValue(channel.volume),
      volumeUnit: channel.volume.unit,
      pan: ParameterDecoder.readValue(channel.pan),
      panUnit: channel.pan.unit,
      mute: channel.mute.value,
      solo: channel.solo ?? false,
      destination: channel.destination ?? null,
      devices: (channel.devices ?? []).map((device) => ({
        kind: device.constructor.name,
        name: device.name,
        role: device.deviceRole,
        bands: (device.bands ?? []).map((band) => band.type),
      })),
    });
    walk(track.tracks ?? [], track.name);
  }
}
walk(project.structure, null);
for (const track of tracks) {
  track.destination = track.destination === null ? null : channelOwner.get(track.destination) ?? `unknown ${track.destination}`;
}

const trackNames = new Map(tracks.map((track) => [track.id, track.name]));
const clips = {};
for (const lane of project.arrangement.lanes.lanes) {
  const owner = trackNames.get(lane.track);
  for (const timeline of lane.lanes ?? []) {
    for (const clip of timeline.clips ?? []) {
      for (const content of clip.content ?? []) {
        const path = content.file.path;
        const stored = archive.file(path);
        const wav = stored ? wavHeader(await stored.async("uint8array")) : null;
        (clips[owner] ??= []).push({
          name: clip.name,
          time: clip.time,
          duration: clip.duration,
          playStart: clip.playStart,
          timeUnit: project.arrangement.lanes.timeUnit,
          kind: content.constructor.name,
          path,
          external: content.file.external ?? false,
          sampleRate: content.sampleRate,
          channels: content.channels,
          audioDuration: content.duration,
          wav,
        });
      }
    }
  }
}

await writeFile(process.argv[3], JSON.stringify({
  version: project.version,
  application: { name: project.application.name, version: project.application.version },
  title: metadata.title,
  tracks: tracks.map(({ id, ...track }) => track),
  clips,
}, null, 1));
