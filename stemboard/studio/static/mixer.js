// mixer.js: the Web Audio engine: a strip per stem and bus with the graph's level law, routing, and synced, looped playback.

import { feeds, levels } from "./levels.js";

/** Seconds: the time constant of a level move, instant to the ear and too slow to click. */
const SMOOTHING = 0.01;

/** input -> ChannelSplitter -> a GainNode per side -> ChannelMerger: the law, not StereoPanner's. */
class StripNodes {
  constructor(ctx) {
    this.input = new GainNode(ctx, { channelCount: 2, channelCountMode: "explicit", channelInterpretation: "speakers" });
    const splitter = new ChannelSplitterNode(ctx, { numberOfOutputs: 2 });
    this.sides = [new GainNode(ctx), new GainNode(ctx)];
    this.output = new ChannelMergerNode(ctx, { numberOfInputs: 2 });
    this.input.connect(splitter);
    this.sides.forEach((side, index) => {
      splitter.connect(side, index);
      side.connect(this.output, 0, index);
    });
  }

  setGains(gains, time) {
    this.sides.forEach((side, index) => side.gain.setTargetAtTime(gains[index], time, SMOOTHING));
  }

  setGainsNow(gains) {
    this.sides.forEach((side, index) => {
      side.gain.value = gains[index];
    });
  }

  disconnect() {
    this.input.disconnect();
    this.output.disconnect();
  }
}

export class Mixer {
  /** `sampleRate`: the model's; stems decode at it and the live context runs at it. */
  constructor(sampleRate) {
    this.sampleRate = sampleRate;
    this.decoder = new OfflineAudioContext(2, 1, sampleRate);
    this.ctx = null;
    this.strips = new Map();
    this.preset = null;
    this.dry = new Map();
    this.wet = null;
    this.duration = 0;
    this.loop = { on: false, start: 0, end: 0 };
    this.offset = 0;
    this.playing = null;
  }

  decode(bytes) {
    return this.decoder.decodeAudioData(bytes);
  }

  createBuffer(channels, frames, rate) {
    return this.decoder.createBuffer(channels, frames, rate);
  }

  /** Create or resume the AudioContext; call it from a user gesture (a click, a key). */
  ensureContext() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ sampleRate: this.sampleRate, latencyHint: "interactive" });
      this.master = new GainNode(this.ctx);
      this.master.connect(this.ctx.destination);
      if (this.preset) this.route();
    }
    if (this.ctx.state === "suspended") this.ctx.resume();
  }

  /** Follow the session: `routing` when buses came or went, levels always. */
  update(preset, routing) {
    this.preset = preset;
    if (!this.ctx) return;
    if (routing) this.route();
    else this.applyLevels();
  }

  /** A strip per stem and bus, each connected to the bus it feeds or to the master, at its level. */
  route() {
    const names = [...Object.keys(this.preset.stems), ...Object.keys(this.preset.buses)];
    for (const [name, strip] of this.strips) {
      if (!names.includes(name)) {
        strip.disconnect();
        this.strips.delete(name);
      }
    }
    const added = names.filter((name) => !this.strips.has(name));
    for (const name of added) this.strips.set(name, new StripNodes(this.ctx));
    const fed = feeds(this.preset.buses);
    for (const [name, strip] of this.strips) {
      strip.output.disconnect();
      strip.output.connect(fed.has(name) ? this.strips.get(fed.get(name)).input : this.master);
    }
    const gains = levels(this.preset);
    for (const [name, strip] of this.strips) {
      if (added.includes(name)) strip.setGainsNow(gains.get(name));
      else strip.setGains(gains.get(name), this.ctx.currentTime);
    }
  }

  applyLevels() {
    const now = this.ctx.currentTime;
    for (const [name, gains] of levels(this.preset)) this.strips.get(name).setGains(gains, now);
  }

  /** A new track's dry stems (Map stem -> AudioBuffer); playback stops and returns to 0. */
  setTrack(buffers, duration) {
    this.stopSources();
    this.dry = buffers;
    this.wet = null;
    this.duration = duration;
    this.offset = 0;
  }

  /** Play rendered audio for [start, end]: {mode: "stems"|"mix", start, end, buffers: Map name -> AudioBuffer}. */
  setWet(wet) {
    this.wet = wet;
    this.restart();
  }

  setDry() {
    this.wet = null;
    this.restart();
  }

  setLoop(loop) {
    this.loop = { ...loop };
    if (!this.wet) this.restart();
  }

  /** What plays and how: buffers with their destinations, on a timeline starting at `origin`. */
  plan() {
    if (this.wet) {
      const length = this.wet.end - this.wet.start;
      const sources =
        this.wet.mode === "mix"
          ? [[this.wet.buffers.values().next().value, this.master]]
          : [...this.wet.buffers].map(([stem, buffer]) => [buffer, this.strips.get(stem).input]);
      return { origin: this.wet.start, length, loop: [0, length], sources };
    }
    const loop = this.loop.on && this.loop.end > this.loop.start ? [this.loop.start, this.loop.end] : null;
    const sources = [...this.dry].map(([stem, buffer]) => [buffer, this.strips.get(stem).input]);
    return { origin: 0, length: this.duration, loop, sources };
  }

  get isPlaying() {
    return this.playing !== null;
  }

  play() {
    this.ensureContext();
    if (this.playing || !this.dry.size) return;
    const plan = this.plan();
    let at = Math.min(Math.max(this.offset - plan.origin, 0), plan.length);
    if (plan.loop && at >= plan.loop[1]) at = plan.loop[0];
    if (!plan.loop && at >= plan.length) at = 0;
    const when = this.ctx.currentTime;
    const sources = plan.sources.map(([buffer, destination]) => {
      const source = new AudioBufferSourceNode(this.ctx, { buffer });
      if (plan.loop) {
        source.loop = true;
        [source.loopStart, source.loopEnd] = plan.loop;
      }
      source.connect(destination);
      source.start(when, at);
      return source;
    });
    this.playing = { sources, when, at, plan };
  }

  /** Seconds into the track now. */
  position() {
    if (!this.playing) return this.offset;
    const { when, at, plan } = this.playing;
    let t = at + Math.max(0, this.ctx.currentTime - when);
    if (plan.loop) {
      const [a, b] = plan.loop;
      if (t >= b) t = a + ((t - a) % (b - a));
    }
    return plan.origin + Math.min(t, plan.length);
  }

  /** Whether playback without a loop has reached the end. */
  get finished() {
    if (!this.playing || this.playing.plan.loop) return false;
    const { when, at, plan } = this.playing;
    return at + this.ctx.currentTime - when >= plan.length;
  }

  pause() {
    this.offset = this.position();
    this.stopSources();
  }

  seek(seconds) {
    this.offset = Math.min(Math.max(seconds, 0), this.duration);
    if (this.playing) {
      this.stopSources();
      this.play();
    }
  }

  /** Start again from where playback is (after the buffers, the loop or the routing changed). */
  restart() {
    if (!this.playing) return;
    this.offset = this.position();
    this.stopSources();
    this.play();
  }

  stopSources() {
    if (!this.playing) return;
    for (const source of this.playing.sources) {
      source.stop();
      source.disconnect();
    }
    this.playing = null;
  }
}
