// transport.js: play/pause/stop, the time, the timeline (seek, shift-drag a loop region), the loop controls and the Space key.

import { setPressed, typingIn } from "./dom.js";
import { showError } from "./message.js";
import { fitCanvas } from "./waveform.js";

/** The default loop region: the first seconds of the track (all of it when shorter). */
const DEFAULT_LOOP_SECONDS = 10;
/** The shortest loop region a drag or the inputs may set, in seconds. */
const MIN_LOOP_SECONDS = 0.05;

const $ = (id) => document.getElementById(id);

/** m:ss.t */
export function formatTime(seconds) {
  const tenths = Math.floor(Math.max(0, seconds) * 10 + 1e-6);
  const minutes = Math.floor(tenths / 600);
  return `${minutes}:${((tenths % 600) / 10).toFixed(1).padStart(4, "0")}`;
}

const round = (seconds) => Math.round(seconds * 1000) / 1000;

export class Transport {
  /** onRegion: called when the loop region's start or end changed. */
  constructor(mixer, onRegion) {
    this.mixer = mixer;
    this.onRegion = onRegion;
    this.duration = 0;
    this.loop = { on: false, start: 0, end: 0 };
    this.waveforms = [];
    this.drag = null;
    this.frame = null;
    this.el = {
      play: $("play"), stop: $("stop"), time: $("time"), timeline: $("timeline"), ruler: $("ruler"),
      region: $("loop-region"), playhead: $("playhead"), toggle: $("loop-toggle"),
      start: $("loop-start"), end: $("loop-end"),
    };
    this.el.play.addEventListener("click", () => this.togglePlay());
    this.el.stop.addEventListener("click", () => this.stop());
    this.el.toggle.addEventListener("change", () => this.setLoop({ on: this.el.toggle.checked }));
    this.el.start.addEventListener("change", () => this.typedRegion());
    this.el.end.addEventListener("change", () => this.typedRegion());
    this.el.timeline.addEventListener("keydown", (event) => this.timelineKey(event));
    this.scrubs(this.el.timeline);
    fitCanvas(this.el.ruler, () => this.drawRuler());
    document.addEventListener("keydown", (event) => {
      if (event.key !== " " || event.repeat || event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
      if (!this.duration) return;
      event.preventDefault();
      this.togglePlay();
    });
  }

  /** A new track: rewind, and the default loop region over its first seconds. */
  setTrack(duration) {
    this.duration = duration;
    for (const input of [this.el.start, this.el.end]) input.max = round(duration);
    this.el.play.disabled = this.el.stop.disabled = false;
    this.el.timeline.setAttribute("aria-valuemax", round(duration));
    this.drawRuler();
    this.setLoop({ start: 0, end: Math.min(DEFAULT_LOOP_SECONDS, duration) });
  }

  /** No track: nothing to play. */
  clear() {
    this.duration = 0;
    this.el.play.disabled = this.el.stop.disabled = true;
    this.showPlaying();
    this.drawRuler();
    this.draw();
  }

  /** The loop region in seconds, as a preview renders it. */
  region() {
    return { start: this.loop.start, end: this.loop.end };
  }

  setLoop(changes) {
    const before = this.region();
    this.loop = { ...this.loop, ...changes };
    this.el.toggle.checked = this.loop.on;
    this.el.start.value = round(this.loop.start);
    this.el.end.value = round(this.loop.end);
    this.mixer.setLoop(this.loop);
    this.draw();
    if (before.start !== this.loop.start || before.end !== this.loop.end) this.onRegion();
  }

  typedRegion() {
    const start = this.el.start.valueAsNumber;
    const end = Math.min(this.el.end.valueAsNumber, this.duration);
    if (!(start >= 0 && end - start >= MIN_LOOP_SECONDS)) {
      this.el.start.value = round(this.loop.start);
      this.el.end.value = round(this.loop.end);
      const rule = `the loop must start at 0 s or later and end at least ${MIN_LOOP_SECONDS} s later, within the track`;
      showError(rule, "Loop region");
      return;
    }
    this.setLoop({ start, end });
  }

  togglePlay() {
    if (this.mixer.isPlaying) this.mixer.pause();
    else this.mixer.play();
    this.showPlaying();
  }

  stop() {
    this.mixer.pause();
    const wet = this.mixer.wet;
    this.mixer.seek(wet ? wet.start : this.loop.on ? this.loop.start : 0);
    this.showPlaying();
    this.draw();
  }

  seek(seconds) {
    this.mixer.seek(seconds);
    this.draw();
  }

  showPlaying() {
    const playing = this.mixer.isPlaying;
    setPressed(this.el.play, playing);
    this.el.play.textContent = playing ? "Pause" : "Play";
    if (playing && !this.frame) this.frame = requestAnimationFrame(() => this.tick());
  }

  tick() {
    this.frame = null;
    if (this.mixer.finished) {
      this.mixer.pause();
      this.showPlaying();
    }
    this.draw();
    if (this.mixer.isPlaying) this.frame = requestAnimationFrame(() => this.tick());
  }

  /** The strips' waveforms, redrawn with the playhead and the loop region. */
  setWaveforms(waveforms) {
    this.waveforms = waveforms;
    for (const canvas of waveforms.map((waveform) => waveform.canvas)) this.scrubs(canvas);
    this.draw();
  }

  /** Clicking or dragging `target` seeks; shift-dragging selects the loop region. */
  scrubs(target) {
    const at = (event) => {
      const box = target.getBoundingClientRect();
      return Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1) * this.duration;
    };
    target.addEventListener("pointerdown", (event) => {
      if (!this.duration || event.button !== 0) return;
      target.setPointerCapture(event.pointerId);
      this.drag = { from: at(event), selecting: event.shiftKey };
      if (!this.drag.selecting) this.seek(this.drag.from);
    });
    target.addEventListener("pointermove", (event) => {
      if (!this.drag || !target.hasPointerCapture(event.pointerId)) return;
      if (this.drag.selecting) {
        this.drag.to = at(event);
        this.draw();
      } else this.seek(at(event));
    });
    const finish = (event) => {
      if (!this.drag || !target.hasPointerCapture(event.pointerId)) return;
      const { from, to, selecting } = this.drag;
      this.drag = null;
      if (selecting && to !== undefined && Math.abs(to - from) >= MIN_LOOP_SECONDS) {
        this.setLoop({ on: true, start: Math.min(from, to), end: Math.max(from, to) });
      } else this.draw();
    };
    target.addEventListener("pointerup", finish);
    target.addEventListener("pointercancel", finish);
  }

  timelineKey(event) {
    const step = event.shiftKey ? 5 : 1;
    const moves = { ArrowLeft: -step, ArrowRight: step, Home: -Infinity, End: Infinity };
    if (!(event.key in moves) || !this.duration) return;
    event.preventDefault();
    this.seek(Math.min(Math.max(this.mixer.position() + moves[event.key], 0), this.duration));
  }

  /** The region shown: the one being dragged, the rendered one, or the loop when it is on. */
  shownRegion() {
    if (this.drag?.selecting && this.drag.to !== undefined) {
      const { from, to } = this.drag;
      return { start: Math.min(from, to), end: Math.max(from, to), shown: true, wet: false };
    }
    const wet = this.mixer.wet;
    if (wet) return { start: wet.start, end: wet.end, shown: true, wet: true };
    return { ...this.region(), shown: this.loop.on, wet: false };
  }

  draw() {
    const position = this.mixer.position();
    const region = this.shownRegion();
    this.el.time.textContent = `${formatTime(position)} / ${formatTime(this.duration)}`;
    this.el.timeline.setAttribute("aria-valuenow", round(position));
    this.el.timeline.setAttribute("aria-valuetext", formatTime(position));
    const percent = (seconds) => `${this.duration ? (seconds / this.duration) * 100 : 0}%`;
    this.el.playhead.style.left = percent(position);
    this.el.region.hidden = !region.shown || !this.duration;
    this.el.region.classList.toggle("wet", region.wet);
    this.el.region.style.left = percent(region.start);
    this.el.region.style.width = percent(region.end - region.start);
    for (const waveform of this.waveforms) waveform.draw({ duration: this.duration, position, region });
  }

  drawRuler() {
    const canvas = this.el.ruler;
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, canvas.width, canvas.height);
    if (!this.duration) return;
    const ratio = window.devicePixelRatio || 1;
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];
    const step = steps.find((s) => (s / this.duration) * canvas.width >= 70 * ratio) ?? steps.at(-1);
    const css = getComputedStyle(document.documentElement);
    g.fillStyle = css.getPropertyValue("--dim").trim();
    g.font = `${11 * ratio}px system-ui, sans-serif`;
    g.textBaseline = "top";
    for (let t = 0; t <= this.duration; t += step) {
      const x = Math.round((t / this.duration) * canvas.width);
      g.fillRect(x, 0, ratio, canvas.height * 0.35);
      g.fillText(formatTime(t).replace(/\.0$/, ""), x + 3 * ratio, canvas.height * 0.35);
    }
  }
}
