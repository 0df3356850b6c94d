// Small pieces copied into fresh buffers of one size, each handed on when full: a worker or a download is then posted
// to once per buffer instead of once per piece (a data-channel frame is at most 64 KiB).

export class Gatherer {
  #buffer: Uint8Array | undefined;
  #filled = 0;

  constructor(
    private readonly size: number,
    /** Gets each buffer, full or (from flush) shorter, in order; the buffer is its to keep. */
    private readonly handOn: (buffer: Uint8Array) => void,
  ) {}

  push(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.length; ) {
      this.#buffer ??= new Uint8Array(this.size);
      const take = Math.min(bytes.length - at, this.size - this.#filled);
      this.#buffer.set(bytes.subarray(at, at + take), this.#filled);
      this.#filled += take;
      at += take;
      if (this.#filled === this.size) this.flush();
    }
  }

  /** Hands on what was gathered so far, if anything. */
  flush(): void {
    if (!this.#buffer || this.#filled === 0) return;
    this.handOn(this.#buffer.subarray(0, this.#filled));
    this.#buffer = undefined;
    this.#filled = 0;
  }
}
