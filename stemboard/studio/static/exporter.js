// exporter.js: what an export writes (the preset's outputs, its DAW sessions and tail) and the export job: start it, follow it, list its files.

import { getJSON, postJSON, trackPath } from "./api.js";
import { element } from "./dom.js";
import { reporting, showError } from "./message.js";

/** Milliseconds between two looks at a running export. */
const POLL_MS = 300;
/** outputs.stems may say "all" instead of listing every stem. */
const ALL = "all";
/** A preset without outputs.session_chains prints the chains into the session's audio. */
const PRINTED = "printed";

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class ExportPanel {
  /** getTrack: the open track once its stems are loaded, else null. */
  constructor(session, getTrack) {
    this.session = session;
    this.getTrack = getTrack;
    this.el = {
      mix: $("out-mix"), stems: $("out-stems"), buses: $("out-buses"), format: $("out-format"),
      tail: $("tail-seconds"), template: $("out-template"), button: $("export"),
      status: $("export-status"), files: $("export-files"),
      sessions: [...document.querySelectorAll(".out-session")], chains: $("out-session-chains"),
    };
    this.el.mix.addEventListener("change", () => session.setOutputs({ mix: this.el.mix.checked }));
    this.el.format.addEventListener("change", () => session.setOutputs({ format: this.el.format.value }));
    for (const box of this.el.sessions) box.addEventListener("change", () => this.pickSessions());
    this.el.chains.addEventListener("change", () => session.setOutputs({ session_chains: this.el.chains.value }));
    this.el.tail.addEventListener("change", () => {
      const seconds = this.el.tail.valueAsNumber;
      if (seconds >= 0) session.setTail(seconds);
      else this.el.tail.value = session.data.tail_seconds;
    });
    this.el.button.addEventListener("click", () => reporting("Exporting", () => this.export()));
  }

  setReady(ready) {
    this.el.button.disabled = !ready;
  }

  boxes(cls, key, names, chosen, onChange) {
    return names.map((name) => {
      const box = element("input", { type: "checkbox", class: cls, [`data-${key}`]: name, checked: chosen(name) });
      box.addEventListener("change", onChange);
      return element("label", {}, box, ` ${name}`);
    });
  }

  /** Show the session's outputs (after a preset was loaded or the buses changed). */
  sync() {
    const { outputs, tail_seconds: tail } = this.session.data;
    const buses = Object.keys(this.session.data.buses);
    this.el.mix.checked = outputs.mix;
    const stemChosen = (stem) => outputs.stems === ALL || outputs.stems.includes(stem);
    const busChosen = (bus) => outputs.buses.includes(bus);
    this.el.stems.replaceChildren(...this.boxes("out-stem", "stem", this.session.sources, stemChosen, () => this.pickStems()));
    this.el.buses.replaceChildren(...this.boxes("out-bus", "bus", buses, busChosen, () => this.pickBuses()));
    if (![...this.el.format.options].some((option) => option.value === outputs.format)) {
      this.el.format.append(element("option", { value: outputs.format }, outputs.format));
    }
    this.el.format.value = outputs.format;
    const sessions = outputs.sessions ?? [];
    for (const box of this.el.sessions) box.checked = sessions.includes(box.dataset.session);
    this.el.chains.value = outputs.session_chains ?? PRINTED;
    this.el.tail.value = tail;
    this.el.template.textContent = outputs.template;
  }

  pickStems() {
    const stems = [...this.el.stems.querySelectorAll(".out-stem:checked")].map((box) => box.dataset.stem);
    this.session.setOutputs({ stems });
  }

  pickBuses() {
    const buses = [...this.el.buses.querySelectorAll(".out-bus:checked")].map((box) => box.dataset.bus);
    this.session.setOutputs({ buses });
  }

  pickSessions() {
    const sessions = this.el.sessions.filter((box) => box.checked).map((box) => box.dataset.session);
    this.session.setOutputs({ sessions });
  }

  show(job) {
    const { status } = this.el;
    status.dataset.state = job.state;
    const percent = `${Math.round(job.progress * 100)} %`;
    status.textContent = {
      queued: "Export queued…",
      running: `Exporting… ${percent}`,
      done: `Exported ${job.files.length} file${job.files.length === 1 ? "" : "s"}.`,
      failed: `Export failed: ${job.error}`,
    }[job.state];
  }

  async export() {
    const track = this.getTrack();
    if (!track) return;
    this.el.files.replaceChildren();
    this.el.button.disabled = true;
    try {
      let job = await postJSON(trackPath(track.id, "/export"), { preset: this.session.preset() });
      this.show(job);
      while (job.state === "queued" || job.state === "running") {
        await sleep(POLL_MS);
        job = await getJSON(`api/jobs/${encodeURIComponent(job.id)}`);
        this.show(job);
      }
      if (job.state === "failed") showError(job.error, "Exporting");
      const links = job.files.map((file) =>
        element("li", {}, element("a", { href: file.url, download: "" }, file.name), " ", element("code", {}, file.path)),
      );
      this.el.files.replaceChildren(...links);
    } catch (error) {
      this.el.status.dataset.state = "failed";
      this.el.status.textContent = `Export failed: ${error.message}`;
      throw error;
    } finally {
      this.el.button.disabled = !this.getTrack();
    }
  }
}
