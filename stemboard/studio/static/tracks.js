// tracks.js: opening tracks: upload or pick one, follow its separation, then fetch and decode its stems and peaks.

import { getBytes, getJSON, trackPath, uploadTrack } from "./api.js";
import { element } from "./dom.js";
import { reporting } from "./message.js";
import { formatTime } from "./transport.js";

/** Milliseconds between two looks at a separation in progress. */
const POLL_MS = 300;
/** The bucket counts the server's peaks accept. */
const BUCKETS = { low: 16, high: 16384 };

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Tracks {
  /**
   * sources: the model's stems; mixer: decodes them; buckets(): how many peaks a waveform wants;
   * onClose(): the open track goes away; onReady(track, buffers, peaks): a track is playable.
   */
  constructor({ sources, mixer, buckets, onClose, onReady }) {
    Object.assign(this, { sources, mixer, buckets, onClose, onReady });
    this.opening = 0;
    this.current = null;
    this.el = { select: $("track-select"), status: $("track-status"), progress: $("separation-progress"), file: $("open-file") };
    this.el.select.addEventListener("change", () => this.open(this.el.select.value));
    this.el.file.addEventListener("change", () => {
      this.upload([...this.el.file.files]);
      this.el.file.value = "";
    });
    this.acceptDrops();
    this.el.file.disabled = false; // off in the HTML until a chosen file has somewhere to go
  }

  acceptDrops() {
    const carriesFiles = (event) => event.dataTransfer?.types.includes("Files");
    document.addEventListener("dragover", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      document.body.classList.add("dragging");
    });
    document.addEventListener("dragleave", (event) => {
      if (event.relatedTarget === null) document.body.classList.remove("dragging");
    });
    document.addEventListener("drop", (event) => {
      if (!carriesFiles(event)) return;
      event.preventDefault();
      document.body.classList.remove("dragging");
      this.upload([...event.dataTransfer.files]);
    });
  }

  status(text, state) {
    this.el.status.textContent = text;
    this.el.status.dataset.state = state;
  }

  /** Fill the track list from the server, the open track selected; returns the tracks, oldest first. */
  async refresh() {
    const { tracks } = await getJSON("api/tracks");
    const options = tracks.map((track) => element("option", { value: track.id }, track.name));
    this.el.select.replaceChildren(...(options.length ? options : [element("option", { value: "" }, "no track yet")]));
    this.el.select.disabled = !tracks.length;
    if (this.current) this.el.select.value = this.current;
    return tracks;
  }

  /** Open the tracks the server already has (started with files): the most recent one. */
  async start() {
    const tracks = await this.refresh();
    if (tracks.length) return this.open(tracks.at(-1).id);
    return this.status("Open a song to start.", "idle");
  }

  async upload(files) {
    const before = this.opening;
    let last = null;
    for (const file of files) {
      this.status(`Uploading ${file.name}…`, "uploading");
      const track = await reporting(`Opening ${file.name}`, () => uploadTrack(file));
      if (track) last = track;
      else this.status(`Could not open ${file.name}.`, "error");
    }
    if (!last) return;
    await reporting("Listing the tracks", () => this.refresh());
    // Open the new track unless another one was picked while the files went up.
    if (this.opening === before) await this.open(last.id);
  }

  /** Show the track's separation while it runs; resolves with the track once its stems are there. */
  async separated(id, token) {
    for (;;) {
      const track = await getJSON(trackPath(id));
      if (token !== this.opening) return null;
      const { job } = track;
      if (track.stems_ready) return track;
      if (job.state === "failed") throw new Error(`separation failed: ${job.error}`);
      this.el.progress.hidden = false;
      this.el.progress.value = job.progress;
      const percent = Math.round(job.progress * 100);
      const doing = job.state === "queued" ? `${track.name}: waiting to be separated…` : `Separating ${track.name}… ${percent} %`;
      this.status(doing, "separating");
      await sleep(POLL_MS);
    }
  }

  async open(id) {
    if (!id) return;
    const token = ++this.opening;
    this.current = id;
    this.el.select.value = id;
    this.onClose();
    this.status("Opening…", "opening");
    await reporting("Opening the track", async () => {
      try {
        const track = await this.separated(id, token);
        if (!track) return;
        this.el.progress.value = 1;
        this.status(`${track.name}: loading the stems…`, "loading");
        const buckets = Math.min(Math.max(this.buckets(), BUCKETS.low), BUCKETS.high);
        const decode = async (stem) => {
          const bytes = await getBytes(trackPath(id, `/stems/${encodeURIComponent(stem)}.wav`));
          return [stem, await this.mixer.decode(bytes)];
        };
        const decoded = Promise.all(this.sources.map(decode));
        const [buffers, { peaks }] = await Promise.all([decoded, getJSON(trackPath(id, `/peaks?buckets=${buckets}`))]);
        if (token !== this.opening) return;
        this.el.progress.hidden = true;
        const rate = `${(track.sample_rate / 1000).toFixed(1)} kHz`;
        const channels = track.channels === 1 ? "mono" : "stereo";
        this.status(`${track.name} · ${formatTime(track.duration)} · ${rate} · ${channels}`, "ready");
        this.onReady(track, new Map(buffers), peaks);
      } catch (error) {
        if (token !== this.opening) return;
        this.el.progress.hidden = true;
        this.status(`Could not open the track: ${error.message}`, "error");
        throw error;
      }
    });
  }
}
