// main.js: the studio page: reads the server's facts (model, effects, defaults), builds the mixer and panels, wires them.

import { getJSON, postJSON } from "./api.js";
import { BusDialog } from "./buses.js";
import { stemColours } from "./colours.js";
import { ExportPanel } from "./exporter.js";
import { levels } from "./levels.js";
import { reporting, showError } from "./message.js";
import { Mixer } from "./mixer.js";
import { PresetPanel } from "./presets.js";
import { Preview } from "./preview.js";
import { MASTER, Session } from "./session.js";
import { StripView } from "./strips.js";
import { Tracks } from "./tracks.js";
import { Transport } from "./transport.js";

const $ = (id) => document.getElementById(id);

async function start() {
  const info = await getJSON("api/info");
  const sources = info.model.sources;
  $("model-name").textContent = `model: ${info.model.name} · ${sources.join(", ")}`;
  const empty = { stemboard_preset: 1, name: $("preset-name").value };
  const { preset: defaults } = await postJSON("api/presets/check", { preset: empty });
  const session = new Session(sources, defaults);
  const mixer = new Mixer(info.model.sample_rate);
  mixer.update(session.data, true);
  const wakeAudio = () => mixer.ensureContext();
  document.addEventListener("pointerdown", wakeAudio, { capture: true, once: true });
  document.addEventListener("keydown", wakeAudio, { capture: true, once: true });

  let track = null;
  const getTrack = () => track;
  const transport = new Transport(mixer, () => preview.onRegion());
  const preview = new Preview({ session, mixer, transport, getTrack, maxSeconds: info.max_preview_seconds });
  const presets = new PresetPanel(session);
  const exporter = new ExportPanel(session, getTrack);
  new BusDialog(session);

  const registry = info.effects;
  const colours = stemColours(sources);
  const stems = sources.map(
    (stem, index) => new StripView(stem, "stem", { session, registry, colour: colours[index] }),
  );
  $("stem-strips").append(...stems.map((view) => view.element));
  transport.setWaveforms(stems.map((view) => view.waveform));
  const master = new StripView(MASTER, "master", { session, registry });
  $("master-strip").append(master.element);
  const removeBus = (name) => {
    try {
      session.removeBus(name);
    } catch (error) {
      showError(error, `Removing bus ${name}`);
    }
  };
  let buses = [];
  const showBuses = () => {
    buses = Object.keys(session.data.buses).map((bus) => new StripView(bus, "bus", { session, registry, onRemove: removeBus }));
    $("bus-strips").replaceChildren(...buses.map((view) => view.element));
  };
  const showSilence = () => {
    const gains = levels(session.data);
    for (const view of [...stems, ...buses]) {
      view.element.classList.toggle("silent", gains.get(view.name).every((gain) => gain === 0));
    }
  };
  exporter.sync();

  session.addEventListener("change", ({ detail: { kind } }) => {
    if (kind === "routing" || kind === "replaced") {
      showBuses();
      exporter.sync();
    }
    if (kind === "levels" || kind === "routing" || kind === "replaced") {
      mixer.update(session.data, kind !== "levels");
      showSilence();
    }
    if (kind === "replaced") {
      for (const view of [...stems, master]) view.sync();
      presets.sync();
    }
    preview.onChange(kind);
  });

  const ready = (isReady) => {
    $("mixer").dataset.ready = String(isReady);
    preview.setReady(isReady);
    exporter.setReady(isReady);
  };
  const tracks = new Tracks({
    sources,
    mixer,
    buckets: () => Math.round(stems[0].canvas.clientWidth * (window.devicePixelRatio || 1)),
    onClose: () => {
      track = null;
      ready(false);
      mixer.setTrack(new Map(), 0);
      preview.reset();
      for (const view of stems) view.waveform.setPeaks([]);
      transport.clear();
    },
    onReady: (opened, buffers, peaks) => {
      track = opened;
      mixer.setTrack(buffers, opened.duration);
      for (const view of stems) view.waveform.setPeaks(peaks[view.name] ?? []);
      transport.setTrack(opened.duration);
      ready(true);
    },
  });
  await Promise.all([reporting("Listing the shipped presets", () => presets.listShipped()), tracks.start()]);
}

reporting("Starting the studio", start);
