// presets.js: the session as a preset file: save it (path and YAML download), load a shipped preset or one of the user's own.

import { getJSON, postJSON } from "./api.js";
import { element } from "./dom.js";
import { reporting } from "./message.js";

const $ = (id) => document.getElementById(id);

export class PresetPanel {
  constructor(session) {
    this.session = session;
    this.download = null;
    this.el = {
      name: $("preset-name"), save: $("save-preset"), path: $("saved-path"), link: $("download-preset"),
      shipped: $("load-preset-select"), file: $("load-preset-file"),
    };
    this.el.name.addEventListener("input", () => session.setName(this.el.name.value.trim()));
    this.el.save.addEventListener("click", () => reporting("Saving the preset", () => this.save()));
    this.el.shipped.addEventListener("change", () => {
      const name = this.el.shipped.value;
      this.el.shipped.value = "";
      if (name) reporting(`Loading preset ${name}`, () => this.loadShipped(name));
    });
    this.el.file.addEventListener("change", () => {
      const [file] = this.el.file.files;
      this.el.file.value = "";
      if (file) reporting(`Loading ${file.name}`, () => this.loadFile(file));
    });
  }

  /** Fill the shipped presets' list from the server. */
  async listShipped() {
    const { presets } = await getJSON("api/presets");
    this.el.shipped.append(...presets.map((name) => element("option", { value: name }, name)));
  }

  /** Show the session's name (after a preset was loaded). */
  sync() {
    this.el.name.value = this.session.data.name;
  }

  async save() {
    const filename = this.el.name.value.trim();
    const { path, yaml } = await postJSON("api/presets/save", { preset: this.session.preset(), filename });
    this.el.path.textContent = `Saved ${path}`;
    if (this.download) URL.revokeObjectURL(this.download);
    this.download = URL.createObjectURL(new Blob([yaml], { type: "application/yaml" }));
    this.el.link.href = this.download;
    this.el.link.download = `${filename.replace(/\.yaml$/, "")}.yaml`;
    this.el.link.hidden = false;
  }

  async loadShipped(name) {
    const { preset } = await getJSON(`api/presets/${encodeURIComponent(name)}`);
    this.session.replace(preset);
  }

  async loadFile(file) {
    const { preset } = await postJSON("api/presets/parse", { yaml: await file.text(), name: file.name });
    this.session.replace(preset);
  }
}
