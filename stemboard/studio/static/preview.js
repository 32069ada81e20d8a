// preview.js: hearing effects: the server renders the loop region; the page plays it in place of the dry stems, kept current.

import { renderPreview } from "./api.js";
import { setPressed } from "./dom.js";
import { showError } from "./message.js";
import { hasEffects, previewMode } from "./session.js";
import { formatTime } from "./transport.js";

/** A preview covers at most api/info's max_preview_seconds; a longer loop is heard from its start. */
/** Milliseconds of quiet after an edit before the region is rendered again. */
const DEBOUNCE_MS = 400;

const $ = (id) => document.getElementById(id);

/** What a render depends on: in "stems" mode the stems' chains only, in "mix" mode the whole graph. */
function renderKey(trackId, preset, mode, start, end) {
  const graph =
    mode === "stems"
      ? Object.fromEntries(Object.entries(preset.stems).map(([stem, strip]) => [stem, strip.chain]))
      : { stems: preset.stems, buses: preset.buses, master: preset.master };
  return JSON.stringify({ trackId, mode, start, end, graph });
}

export class Preview {
  /** getTrack: the open track once its stems are loaded, else null. */
  constructor({ session, mixer, transport, getTrack, maxSeconds }) {
    this.session = session;
    this.maxSeconds = maxSeconds;
    this.mixer = mixer;
    this.transport = transport;
    this.getTrack = getTrack;
    this.wet = false;
    this.last = null;
    this.pending = null;
    this.timer = null;
    this.el = { preview: $("preview"), dry: $("dry"), auto: $("auto-preview"), status: $("preview-status") };
    this.el.preview.addEventListener("click", () => this.render());
    this.el.dry.addEventListener("click", () => {
      if (this.wet) this.goDry("Dry stems. Press again to hear the effects.");
      else this.render();
    });
  }

  status(text, state) {
    this.el.status.textContent = text;
    this.el.status.dataset.state = state;
  }

  /** Enable the buttons when a track is ready (or disable them when none is). */
  setReady(ready) {
    this.el.preview.disabled = this.el.dry.disabled = !ready;
  }

  /** A new track, or none: forget what was rendered. */
  reset() {
    this.goDry("");
    this.last = null;
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.render(), DEBOUNCE_MS);
  }

  /** The session changed (a "change" event's kind). */
  onChange(kind) {
    if (!this.getTrack()) return;
    const preset = this.session.data;
    if (["chains", "routing", "replaced"].includes(kind)) {
      if (!hasEffects(preset)) {
        if (this.wet || this.pending || this.timer) this.goDry("No effects: the dry stems play.");
      } else if (this.el.auto.checked) this.schedule();
      else if (this.wet) this.status("The effects changed: press Hear effects to render them again.", "stale");
    } else if (kind === "levels" && this.wet && previewMode(preset) === "mix") {
      this.status("Levels changed: rendering the mix again…", "stale");
      this.schedule();
    }
  }

  /** The loop region moved: what plays no longer matches it. */
  onRegion() {
    if (this.wet) this.schedule();
  }

  goDry(text) {
    clearTimeout(this.timer);
    this.timer = null;
    this.pending?.abort();
    this.pending = null;
    this.wet = false;
    this.mixer.setDry();
    setPressed(this.el.dry, true);
    this.status(text, "dry");
    this.transport.draw();
  }

  play(wet) {
    this.wet = true;
    this.mixer.setWet(wet);
    setPressed(this.el.dry, false);
    this.transport.draw();
  }

  async render() {
    clearTimeout(this.timer);
    this.timer = null;
    const track = this.getTrack();
    if (!track) return;
    const preset = this.session.preset();
    if (!hasEffects(preset)) {
      this.goDry("No effects in the session yet: add one to a chain to hear it.");
      return;
    }
    const mode = previewMode(preset);
    const region = this.transport.region();
    const start = region.start;
    const end = Math.min(region.end, start + this.maxSeconds);
    const key = renderKey(track.id, preset, mode, start, end);
    this.pending?.abort();
    if (this.last?.key === key) {
      this.play(this.last.wet);
      this.status(this.last.said, "wet");
      return;
    }
    const pending = new AbortController();
    this.pending = pending;
    this.status("rendering…", "rendering");
    const began = performance.now();
    try {
      const answer = await renderPreview(track.id, { preset, start, end, mode }, pending.signal);
      if (answer.frames < 1) throw new Error("the server rendered no audio for this region");
      const buffers = new Map(
        answer.names.map((name, output) => {
          const buffer = this.mixer.createBuffer(2, answer.frames, answer.sampleRate);
          buffer.copyToChannel(answer.channel(output, 0), 0);
          buffer.copyToChannel(answer.channel(output, 1), 1);
          return [name, buffer];
        }),
      );
      const wet = { mode, start, end: start + answer.frames / answer.sampleRate, buffers };
      const seconds = ((performance.now() - began) / 1000).toFixed(2);
      const what = mode === "mix" ? "the mix" : "the stems";
      const clipped = end < region.end ? ` (the first ${this.maxSeconds} s of the loop)` : "";
      const span = `${formatTime(start)}–${formatTime(wet.end)}`;
      const said = `Hearing ${what} with effects, ${span}${clipped}: rendered in ${seconds} s`;
      this.last = { key, wet, said };
      this.play(wet);
      this.status(said, "wet");
    } catch (error) {
      if (error.name === "AbortError") return;
      this.status(`Preview failed: ${error.message}`, "error");
      showError(error, "Hearing effects");
    } finally {
      if (this.pending === pending) this.pending = null;
    }
  }
}
