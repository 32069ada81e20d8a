// colours.js: each stem's colour, by its name, so that a stem looks the same whatever model the studio runs.

/** The strip and waveform colours. */
const PALETTE = ["#4fb3ff", "#ff8a5c", "#7bd88f", "#c792ea", "#f7c948", "#5ce1e6", "#ff6b9a", "#a0a8b0"];

/** The stems demucs' models name, each with its own colour: MUSDB's four and htdemucs_6s' guitar and piano. */
const NAMED = new Map([
  ["drums", PALETTE[0]],
  ["bass", PALETTE[1]],
  ["other", PALETTE[2]],
  ["vocals", PALETTE[3]],
  ["guitar", PALETTE[4]],
  ["piano", PALETTE[5]],
]);

/**
 * One colour per stem, in the model's order: a named stem has its own; the others (a model whose
 * stems are `speech, music`) take, in order, the colours no stem of this model has by name.
 */
export function stemColours(sources) {
  const taken = new Set(sources.filter((stem) => NAMED.has(stem)).map((stem) => NAMED.get(stem)));
  const spare = PALETTE.filter((colour) => !taken.has(colour));
  let next = 0;
  return sources.map((stem) => NAMED.get(stem) ?? spare[next++ % spare.length]);
}
