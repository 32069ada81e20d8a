// buses.js: the "Add bus" dialog: a name and the stems and buses that feed it, checked by the server before the bus is made.

import { postJSON } from "./api.js";
import { element } from "./dom.js";
import { MASTER } from "./session.js";

export class BusDialog {
  constructor(session) {
    this.session = session;
    this.dialog = document.getElementById("bus-dialog");
    this.name = document.getElementById("bus-name");
    this.inputs = document.getElementById("bus-inputs");
    this.error = document.getElementById("bus-error");
    document.getElementById("add-bus").addEventListener("click", () => this.open());
    document.getElementById("bus-cancel").addEventListener("click", () => this.dialog.close());
    document.getElementById("bus-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.create();
    });
  }

  open() {
    const { session } = this;
    const names = [...session.sources, ...Object.keys(session.data.buses)];
    const choices = names.map((name) => {
      const fed = session.fedBus(name);
      const box = element("input", { type: "checkbox", class: "bus-input", value: name, "data-input": name, disabled: !!fed });
      const taken = fed ? element("span", { class: "dim" }, ` (feeds ${fed})`) : "";
      return element("label", {}, box, ` ${name}`, taken);
    });
    this.inputs.replaceChildren(element("legend", {}, "Fed by"), ...choices);
    this.name.value = "";
    this.error.textContent = "";
    this.dialog.showModal();
    this.name.focus();
  }

  async create() {
    const name = this.name.value.trim();
    const inputs = [...this.inputs.querySelectorAll(".bus-input:checked")].map((box) => box.value);
    const refuse = (text) => {
      this.error.textContent = text;
    };
    if (!name) return refuse("Name the bus.");
    if (name === MASTER || this.session.isBus(name)) return refuse(`There is already a strip called ${name}.`);
    if (!inputs.length) return refuse("Tick at least one stem or bus to feed it.");
    try {
      await postJSON("api/presets/check", { preset: this.session.withBus(name, inputs) });
    } catch (error) {
      return refuse(error.message);
    }
    this.dialog.close();
    this.session.addBus(name, inputs);
  }
}
