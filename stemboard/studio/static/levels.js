// levels.js: the graph's level law (docs/studio.md) and routing, computed from the session's preset data.

/** A strip's [left, right] gains: g·√2·cos(a), g·√2·sin(a), g = 10^(dB/20), a = (pan + 1)·π/4. */
export function stripGains(gainDb, pan) {
  const g = 10 ** (gainDb / 20);
  const a = ((pan + 1) * Math.PI) / 4;
  return [g * Math.SQRT2 * Math.cos(a), g * Math.SQRT2 * Math.sin(a)];
}

/**
 * Every stem's and bus's [left, right] gains now: silent when muted, or (stems) when another
 * stem is soloed and this one is not.
 */
export function levels(preset) {
  const stems = Object.entries(preset.stems);
  const soloed = stems.some(([, strip]) => strip.solo);
  const gains = new Map();
  for (const [name, strip] of stems) {
    const audible = !strip.mute && (strip.solo || !soloed);
    gains.set(name, audible ? stripGains(strip.gain_db, strip.pan) : [0, 0]);
  }
  for (const [name, bus] of Object.entries(preset.buses)) {
    gains.set(name, bus.mute ? [0, 0] : stripGains(bus.gain_db, bus.pan));
  }
  return gains;
}

/** Which bus each stem or bus feeds; a name not in the map goes to the master. */
export function feeds(buses) {
  const fed = new Map();
  for (const [bus, { inputs }] of Object.entries(buses)) {
    for (const name of inputs) fed.set(name, bus);
  }
  return fed;
}
