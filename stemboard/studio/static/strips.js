// strips.js: the mixer's strips (a stem, a bus, the master): levels, mute/solo, waveform and chain editor, bound to the session.

import { element, setPressed, typingIn } from "./dom.js";
import { ChainEditor } from "./effects.js";
import { Waveform } from "./waveform.js";

/** The fader's span in dB; a preset may go further (its value is shown, the fader stops at its end). */
const GAIN_FADER = { min: -60, max: 12, step: 0.1 };
const PAN_KNOB = { min: -1, max: 1, step: 0.01 };
const SWITCHES = { mute: "Mute", solo: "Solo" };

function formatGain(db) {
  return `${db > 0 ? "+" : ""}${db.toFixed(1)} dB`;
}

function formatPan(pan) {
  if (Math.abs(pan) < 0.005) return "C";
  return `${pan < 0 ? "L" : "R"}${Math.round(Math.abs(pan) * 100)}`;
}

/** A range input (class `cls`) with its value shown beside it; double-click returns it to 0. */
function level(strip, cls, title, span, format, onValue) {
  const input = element("input", { type: "range", class: cls, ...span, value: 0, "aria-label": `${strip} ${cls}` });
  const shown = element("output", { class: `${cls}-value` });
  const set = (value) => {
    shown.textContent = format(value);
    onValue(value);
  };
  input.addEventListener("input", () => set(input.valueAsNumber));
  input.addEventListener("dblclick", () => {
    input.value = 0;
    set(0);
  });
  const label = element("label", { class: "level" }, element("span", { class: "level-name" }, title), input, shown);
  const show = (value) => {
    input.value = value;
    shown.textContent = format(value);
  };
  return { label, show };
}

export class StripView {
  /**
   * kind: "stem", "bus" or "master". options: {session, registry, colour (stems: the waveform's),
   * onRemove (buses)}.
   */
  constructor(name, kind, { session, registry, colour, onRemove }) {
    this.name = name;
    this.kind = kind;
    this.session = session;
    const label = kind === "master" ? "Master strip" : `${name} ${kind} strip`;
    this.element = element("section", { class: `strip strip-${kind}`, "data-strip": name, tabindex: 0, "aria-label": label });
    if (colour) this.element.style.setProperty("--strip-colour", colour);
    const title = element("div", { class: "strip-title" }, element("h3", {}, name));
    const head = element("div", { class: "strip-head" }, title);
    this.controls = {};
    if (kind === "bus") {
      head.append(element("p", { class: "bus-inputs dim" }, `← ${session.strip(name).inputs.join(", ")}`));
      const remove = { type: "button", class: "remove-bus icon", "aria-label": `Remove bus ${name}`, onclick: () => onRemove(name) };
      title.append(element("button", remove, "×"));
    }
    if (kind !== "master") this.addLevels(title, head);
    const body = element("div", { class: "strip-body" });
    if (kind === "stem") {
      const described = `${name} waveform (click to seek, shift-drag to set the loop)`;
      this.canvas = element("canvas", { class: "waveform", role: "img", "aria-label": described });
      body.append(this.canvas);
      this.waveform = new Waveform(this.canvas, colour);
    }
    const chain = element("div", { class: "chain", role: "group", "aria-label": `${name} effects` });
    body.append(chain);
    this.element.append(head, body);
    this.chain = new ChainEditor(chain, { session, strip: name, registry });
    this.element.addEventListener("keydown", (event) => this.shortcut(event));
    this.sync();
  }

  addLevels(title, head) {
    const { session, name } = this;
    this.controls.gain = level(name, "gain", "Gain", GAIN_FADER, formatGain, (db) => session.setLevel(name, "gain_db", db));
    this.controls.pan = level(name, "pan", "Pan", PAN_KNOB, formatPan, (pan) => session.setLevel(name, "pan", pan));
    this.buttons = {};
    for (const key of this.kind === "stem" ? ["mute", "solo"] : ["mute"]) {
      const letter = key[0].toUpperCase();
      const said = { "aria-label": `${SWITCHES[key]} ${name}`, title: `${SWITCHES[key]} (${letter})` };
      const button = element("button", { type: "button", class: `${key} toggle`, "aria-pressed": "false", ...said }, letter);
      button.addEventListener("click", () => this.toggle(key));
      this.buttons[key] = button;
    }
    title.append(...Object.values(this.buttons));
    head.append(this.controls.gain.label, this.controls.pan.label);
  }

  toggle(key) {
    const on = !this.session.strip(this.name)[key];
    setPressed(this.buttons[key], on);
    this.session.setLevel(this.name, key, on);
  }

  shortcut(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingIn(event.target)) return;
    const key = { m: "mute", s: "solo" }[event.key.toLowerCase()];
    if (key && this.buttons?.[key]) {
      event.preventDefault();
      this.toggle(key);
    }
  }

  /** Show the session's values (after a preset was loaded). */
  sync() {
    if (this.kind !== "master") {
      const strip = this.session.strip(this.name);
      this.controls.gain.show(strip.gain_db);
      this.controls.pan.show(strip.pan);
      for (const [key, button] of Object.entries(this.buttons)) setPressed(button, strip[key]);
    }
    this.chain.render();
  }
}
