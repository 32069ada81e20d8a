// session.js: the studio session kept as preset data (docs/studio.md), and "change" events saying what changed.

/** The master strip's name in the page (data-strip="master"); no bus may take it. */
export const MASTER = "master";

const clone = (value) => structuredClone(value);

function stemStrip(data = {}) {
  return { gain_db: 0, pan: 0, mute: false, solo: false, ...clone(data), chain: clone(data.chain ?? []) };
}

function busStrip(data) {
  return { gain_db: 0, pan: 0, mute: false, ...clone(data), chain: clone(data.chain ?? []) };
}

/**
 * Preset data as the page keeps it: every stem of the model present, every strip field filled,
 * outputs completed from `defaults` (a checked empty preset, so the server's defaults), no
 * `model` (the server puts in its own).
 */
export function normalise(preset, sources, defaults) {
  const unknown = Object.keys(preset.stems ?? {}).filter((stem) => !sources.includes(stem));
  if (unknown.length) {
    throw new Error(`the preset has stems this model lacks: ${unknown.join(", ")} (the model has: ${sources.join(", ")})`);
  }
  if (MASTER in (preset.buses ?? {})) {
    throw new Error(`the preset has a bus called "${MASTER}", which the studio page uses for the master strip; rename it`);
  }
  const data = {
    stemboard_preset: 1,
    name: preset.name,
    stems: Object.fromEntries(sources.map((stem) => [stem, stemStrip(preset.stems?.[stem])])),
    buses: Object.fromEntries(Object.entries(preset.buses ?? {}).map(([bus, strip]) => [bus, busStrip(strip)])),
    master: clone(preset.master ?? []),
    tail_seconds: preset.tail_seconds ?? 0,
    outputs: { ...clone(defaults.outputs), ...clone(preset.outputs ?? {}) },
  };
  if (preset.description) data.description = preset.description;
  return data;
}

/** Whether any chain holds an effect: without one, the dry stems are what the graph plays. */
export function hasEffects(preset) {
  return (
    preset.master.length > 0 ||
    Object.values(preset.stems).some((strip) => strip.chain.length > 0) ||
    Object.values(preset.buses).some((bus) => bus.chain.length > 0)
  );
}

/** "mix" when a bus or the master chain is involved (the server renders the whole graph), else "stems". */
export function previewMode(preset) {
  return Object.keys(preset.buses).length > 0 || preset.master.length > 0 ? "mix" : "stems";
}

/**
 * The session. Every edit goes through a method, which fires a "change" event whose detail is
 * {kind, strip}: kind is "levels", "chains", "routing", "outputs", "name" or "replaced".
 */
export class Session extends EventTarget {
  constructor(sources, defaults) {
    super();
    this.sources = sources;
    this.defaults = defaults;
    this.data = normalise(defaults, sources, defaults);
  }

  emit(kind, strip = null) {
    this.dispatchEvent(new CustomEvent("change", { detail: { kind, strip } }));
  }

  /** Replace everything with a preset's data (throws, changing nothing, if it does not fit the model). */
  replace(preset) {
    this.data = normalise(preset, this.sources, this.defaults);
    this.emit("replaced");
  }

  /** The preset data to send to the server: a copy. */
  preset() {
    return clone(this.data);
  }

  isBus(name) {
    return Object.hasOwn(this.data.buses, name);
  }

  strip(name) {
    return this.data.stems[name] ?? this.data.buses[name];
  }

  setLevel(name, key, value) {
    this.strip(name)[key] = value;
    this.emit("levels", name);
  }

  chain(name) {
    return name === MASTER ? this.data.master : this.strip(name).chain;
  }

  setChain(name, chain) {
    if (name === MASTER) this.data.master = chain;
    else this.strip(name).chain = chain;
    this.emit("chains", name);
  }

  setParam(name, index, param, value) {
    this.chain(name)[index][param] = value;
    this.emit("chains", name);
  }

  /** The preset data with a new bus added, for the server to check before addBus. */
  withBus(name, inputs) {
    const preset = this.preset();
    preset.buses[name] = busStrip({ inputs });
    return preset;
  }

  addBus(name, inputs) {
    this.data.buses[name] = busStrip({ inputs });
    this.emit("routing", name);
  }

  /** The bus that `name` feeds, if any. */
  fedBus(name) {
    return Object.keys(this.data.buses).find((bus) => this.data.buses[bus].inputs.includes(name));
  }

  removeBus(name) {
    const fed = this.fedBus(name);
    if (fed) throw new Error(`bus ${name} feeds bus ${fed}: remove ${fed} first`);
    delete this.data.buses[name];
    this.data.outputs.buses = this.data.outputs.buses.filter((bus) => bus !== name);
    this.emit("routing", name);
  }

  setOutputs(changes) {
    Object.assign(this.data.outputs, changes);
    this.emit("outputs");
  }

  setTail(seconds) {
    this.data.tail_seconds = seconds;
    this.emit("outputs");
  }

  setName(name) {
    this.data.name = name;
    this.emit("name");
  }
}
