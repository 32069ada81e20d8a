// waveform.js: a strip's waveform overview on a canvas: min/max peaks, the loop region shaded, the playhead over it.

const colour = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/** A canvas sized to its box in device pixels; `onResize` runs when that size changes. */
export function fitCanvas(canvas, onResize) {
  const fit = () => {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      onResize();
    }
  };
  new ResizeObserver(fit).observe(canvas);
  fit();
}

export class Waveform {
  /** `peakColour`: the peaks' CSS colour. */
  constructor(canvas, peakColour) {
    this.canvas = canvas;
    this.peakColour = peakColour;
    this.peaks = [];
    this.image = document.createElement("canvas");
    this.view = null;
    fitCanvas(canvas, () => {
      this.paintPeaks();
      if (this.view) this.draw(this.view);
    });
  }

  /** [[min, max], ...] over the whole track, or [] for none. */
  setPeaks(peaks) {
    this.peaks = peaks;
    this.paintPeaks();
  }

  paintPeaks() {
    const { width, height } = this.canvas;
    this.image.width = width;
    this.image.height = height;
    const g = this.image.getContext("2d");
    g.clearRect(0, 0, width, height);
    g.fillStyle = colour("--wave-centre");
    g.fillRect(0, Math.floor(height / 2), width, 1);
    if (!this.peaks.length) return;
    g.fillStyle = this.peakColour;
    const half = height / 2;
    for (let x = 0; x < width; x += 1) {
      const first = Math.floor((x / width) * this.peaks.length);
      const last = Math.max(first + 1, Math.floor(((x + 1) / width) * this.peaks.length));
      let low = 0;
      let high = 0;
      for (let i = first; i < last; i += 1) {
        low = Math.min(low, this.peaks[i][0]);
        high = Math.max(high, this.peaks[i][1]);
      }
      const top = half - Math.min(high, 1) * half;
      const bottom = half - Math.max(low, -1) * half;
      g.fillRect(x, top, 1, Math.max(1, bottom - top));
    }
  }

  /** view: {duration, position, region: {start, end, shown, wet}}; seconds throughout. */
  draw(view) {
    this.view = view;
    const { width, height } = this.canvas;
    const g = this.canvas.getContext("2d");
    g.clearRect(0, 0, width, height);
    g.drawImage(this.image, 0, 0);
    if (!view.duration) return;
    const x = (seconds) => (seconds / view.duration) * width;
    const { region } = view;
    if (region.shown) {
      g.fillStyle = colour(region.wet ? "--region-wet" : "--region");
      g.fillRect(x(region.start), 0, x(region.end) - x(region.start), height);
    }
    g.fillStyle = colour("--playhead");
    g.fillRect(Math.round(x(view.position)), 0, Math.max(1, window.devicePixelRatio || 1), height);
  }
}
