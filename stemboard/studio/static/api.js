// api.js: the studio server's HTTP API (docs/studio.md): JSON calls, uploads, the preview's float32 answer.

/** A request the server refused or could not answer; the message is one readable line. */
export class ApiError extends Error {}

async function refusal(response) {
  const text = await response.text();
  let line = text.trim().split("\n")[0] || `${response.status} ${response.statusText}`;
  try {
    line = JSON.parse(text).error ?? line;
  } catch {
    // not JSON: the first line of the body says it
  }
  return new ApiError(line);
}

async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`the studio server does not answer (${error.message}); is it still running?`);
  }
  if (!response.ok) throw await refusal(response);
  return response;
}

function jsonBody(body) {
  return { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

export async function getJSON(path) {
  return (await request(path)).json();
}

export async function postJSON(path, body) {
  return (await request(path, jsonBody(body))).json();
}

export function trackPath(trackId, rest = "") {
  return `api/tracks/${encodeURIComponent(trackId)}${rest}`;
}

/** Upload an audio file; the answer is its track (separation starts on the server). */
export async function uploadTrack(file) {
  const path = `api/tracks?name=${encodeURIComponent(file.name)}`;
  const options = { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file };
  return (await request(path, options)).json();
}

export async function getBytes(path) {
  return (await request(path)).arrayBuffer();
}

/**
 * Render the region through the graph on the server.
 * Returns {names, frames, sampleRate, channel(output, channel) -> Float32Array of frames};
 * the body is little-endian float32 [outputs, 2, frames] (every platform a browser runs on is
 * little-endian, so a Float32Array reads it as it is).
 */
export async function renderPreview(trackId, body, signal) {
  const response = await request(trackPath(trackId, "/preview"), { ...jsonBody(body), signal });
  const names = (response.headers.get("X-Stemboard-Outputs") ?? "").split(",").filter(Boolean);
  const frames = Number(response.headers.get("X-Stemboard-Frames"));
  const sampleRate = Number(response.headers.get("X-Stemboard-Sample-Rate"));
  const bytes = await response.arrayBuffer();
  const expected = names.length * 2 * frames * Float32Array.BYTES_PER_ELEMENT;
  if (!names.length || !(sampleRate > 0) || bytes.byteLength !== expected) {
    throw new ApiError(
      `the preview answer does not add up: ${bytes.byteLength} bytes for ${names.length} outputs × 2 × ${frames} frames`,
    );
  }
  const samples = new Float32Array(bytes);
  const channel = (output, side) => samples.subarray((output * 2 + side) * frames, (output * 2 + side + 1) * frames);
  return { names, frames, sampleRate, channel };
}
