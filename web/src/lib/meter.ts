// Progress of one transfer: bytes so far against an optional total, a current rate over the last few seconds (so a
// stall shows as a falling rate, not a frozen one), the average, and an estimate of the time left.

const WINDOW_MS = 3000;

interface Sample {
  t: number;
  bytes: number;
}

export class Meter {
  readonly started: number;
  bytes = 0;
  private samples: Sample[];
  private lastChange: number;
  private finishedAt: number | undefined;

  constructor(
    public total?: number,
    now = performance.now(),
  ) {
    this.started = now;
    this.lastChange = now;
    this.samples = [{ t: now, bytes: 0 }];
  }

  update(bytes: number, now = performance.now()): void {
    if (bytes !== this.bytes) this.lastChange = now;
    this.bytes = bytes;
    this.samples.push({ t: now, bytes });
    // Keep one sample at or before the window's start, so the rate always spans the whole window.
    while (this.samples.length > 2 && (this.samples[1] as Sample).t <= now - WINDOW_MS) this.samples.shift();
  }

  add(delta: number, now = performance.now()): void {
    this.update(this.bytes + delta, now);
  }

  finish(now = performance.now()): void {
    this.finishedAt = now;
  }

  /** Bytes per second over the last few seconds, measured up to now. */
  rate(now = performance.now()): number {
    let base = this.samples[0] as Sample;
    for (const sample of this.samples) if (sample.t <= now - WINDOW_MS) base = sample;
    const seconds = (now - base.t) / 1000;
    return seconds > 0.25 ? (this.bytes - base.bytes) / seconds : 0;
  }

  average(now = performance.now()): number {
    const seconds = this.elapsed(now);
    return seconds > 0 ? this.bytes / seconds : 0;
  }

  elapsed(now = performance.now()): number {
    return ((this.finishedAt ?? now) - this.started) / 1000;
  }

  /** Seconds left at the current rate; undefined without a total or while nothing moves. */
  eta(now = performance.now()): number | undefined {
    const rate = this.rate(now);
    if (this.total === undefined || rate <= 0) return undefined;
    return Math.max(0, this.total - this.bytes) / rate;
  }

  /** Milliseconds since the byte count last changed. */
  stalledFor(now = performance.now()): number {
    return now - this.lastChange;
  }
}
