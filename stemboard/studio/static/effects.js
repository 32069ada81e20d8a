// effects.js: a strip's chain editor: add, edit, reorder, remove effects, known only from the server's registry (api/info → effects).

import { element } from "./dom.js";

const SLIDER_STEPS = 1000;

/** How a slider spreads a range: logarithmic over decades, cubic from 0 over a wide span, else linear. */
function taper(low, high) {
  if (low > 0 && high / low >= 100) {
    const span = Math.log(high / low);
    return { to: (v) => Math.log(v / low) / span, from: (t) => low * Math.exp(t * span) };
  }
  if (low === 0 && high >= 1000) return { to: (v) => Math.cbrt(v / high), from: (t) => high * t ** 3 };
  return { to: (v) => (v - low) / (high - low), from: (t) => low + t * (high - low) };
}

/** Whether `value` is one this parameter accepts (its kind and its range, open ends included). */
function accepts(info, value) {
  if (!Number.isFinite(value) || (info.kind === "int" && !Number.isInteger(value))) return false;
  if (info.low !== null && (info.low_open ? value <= info.low : value < info.low)) return false;
  return info.high === null || (info.high_open ? value < info.high : value <= info.high);
}

function numberControl(info, value, label, onValue) {
  const bounded = info.low !== null && info.high !== null;
  const number = element("input", {
    type: "number",
    "data-param": info.name,
    step: info.kind === "int" ? 1 : "any",
    min: info.low ?? false,
    max: info.high ?? false,
    value,
    "aria-label": label,
  });
  let slider = null;
  let shape = null;
  if (bounded && info.kind === "float") {
    shape = taper(info.low, info.high);
    slider = element("input", {
      type: "range",
      class: "param-slider",
      min: 0,
      max: SLIDER_STEPS,
      step: 1,
      value: Math.round(shape.to(value) * SLIDER_STEPS),
      "aria-label": `${label} (slider)`,
    });
    slider.addEventListener("input", () => {
      const picked = Number(shape.from(slider.valueAsNumber / SLIDER_STEPS).toPrecision(4));
      const next = Math.min(Math.max(picked, info.low), info.high);
      if (!accepts(info, next)) return;
      number.value = next;
      number.removeAttribute("aria-invalid");
      onValue(next);
    });
  }
  let last = value;
  number.addEventListener("input", () => {
    const next = number.valueAsNumber;
    if (!accepts(info, next)) {
      number.setAttribute("aria-invalid", "true");
      return;
    }
    number.removeAttribute("aria-invalid");
    last = next;
    if (slider) slider.value = Math.round(shape.to(next) * SLIDER_STEPS);
    onValue(next);
  });
  number.addEventListener("change", () => {
    number.value = last;
    number.removeAttribute("aria-invalid");
  });
  return slider ? [slider, number] : [number];
}

function control(info, value, label, onValue) {
  if (info.kind === "bool") {
    const box = element("input", { type: "checkbox", "data-param": info.name, checked: value, "aria-label": label });
    box.addEventListener("change", () => onValue(box.checked));
    return [box];
  }
  if (info.kind === "enum") {
    const options = info.choices.map((choice) => element("option", { value: choice, selected: choice === value }, choice));
    const select = element("select", { "data-param": info.name, "aria-label": label }, ...options);
    select.addEventListener("change", () => onValue(select.value));
    return [select];
  }
  return numberControl(info, value, label, onValue);
}

export class ChainEditor {
  /** `container`: the strip's .chain; `strip`: the stem, bus or "master" whose chain this edits. */
  constructor(container, { session, strip, registry }) {
    this.session = session;
    this.strip = strip;
    this.registry = registry;
    this.list = element("ol", { class: "effects" });
    const names = Object.keys(registry);
    this.picker = element(
      "select",
      { class: "add-effect", "aria-label": `Effect to add to ${strip}` },
      ...names.map((name) => element("option", { value: name }, name)),
    );
    const add = element("button", { type: "button", class: "add-effect-btn", onclick: () => this.add(this.picker.value) }, "Add");
    container.append(this.list, element("div", { class: "chain-add" }, this.picker, add));
    this.render();
  }

  chain() {
    return this.session.chain(this.strip);
  }

  render() {
    this.list.replaceChildren(...this.chain().map((spec, index) => this.card(spec, index)));
  }

  add(plugin) {
    const defaults = Object.entries(this.registry[plugin].parameters).map(([name, info]) => [name, info.default]);
    this.session.setChain(this.strip, [...this.chain(), { plugin, ...Object.fromEntries(defaults) }]);
    this.render();
  }

  remove(index) {
    this.session.setChain(this.strip, this.chain().filter((_, at) => at !== index));
    this.render();
    this.picker.focus();
  }

  move(index, by) {
    const chain = [...this.chain()];
    [chain[index], chain[index + by]] = [chain[index + by], chain[index]];
    this.session.setChain(this.strip, chain);
    this.render();
    const card = this.list.children[index + by];
    const again = card.querySelector(by < 0 ? ".move-up" : ".move-down");
    (again.disabled ? card.querySelector(by < 0 ? ".move-down" : ".move-up") : again).focus();
  }

  card(spec, index) {
    const last = this.chain().length - 1;
    const who = `${this.strip} ${spec.plugin} (${index + 1})`;
    const tool = (cls, said, text, disabled, onclick) =>
      element("button", { type: "button", class: `${cls} icon`, "aria-label": said, disabled, onclick }, text);
    const tools = element(
      "span",
      { class: "effect-tools" },
      tool("move-up", `Move ${who} earlier`, "↑", index === 0, () => this.move(index, -1)),
      tool("move-down", `Move ${who} later`, "↓", index === last, () => this.move(index, 1)),
      tool("remove-effect", `Remove ${who}`, "×", false, () => this.remove(index)),
    );
    const card = element(
      "li",
      { class: "effect", "data-plugin": spec.plugin, "data-index": index },
      element("div", { class: "effect-head" }, element("span", { class: "effect-name" }, spec.plugin), tools),
    );
    // Every spec came through the server's checks, against this same registry.
    for (const [name, described] of Object.entries(this.registry[spec.plugin].parameters)) {
      const info = { ...described, name };
      const value = spec[name] ?? info.default;
      const label = `${who} ${name.replaceAll("_", " ")}`;
      const inputs = control(info, value, label, (next) => this.session.setParam(this.strip, index, name, next));
      const title = element("span", { class: "param-name" }, name.replaceAll("_", " "));
      card.append(element("label", { class: `param param-${info.kind}` }, title, ...inputs));
    }
    return card;
  }
}
