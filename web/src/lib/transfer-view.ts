// The status block every transfer shows, sending or receiving: one status sentence (announced to screen readers as
// it changes), a progress bar, and the numbers (bytes, current speed, time left), refreshed on a timer so a stall
// shows as a falling speed. Screens put their own extras (links, the received text) below it.
import { h, replaceChildren } from './dom.ts';
import { formatBytes, formatDuration, formatRate } from './format.ts';
import { Meter } from './meter.ts';

export type Tone = 'info' | 'busy' | 'done' | 'warn' | 'failed';

const REFRESH_MS = 250;
const STALLED_MS = 1500;

export class TransferView {
  readonly element: HTMLElement;
  readonly extra: HTMLElement;
  private readonly status: HTMLElement;
  private readonly bar: HTMLProgressElement;
  private readonly numbers: HTMLElement;
  private meter: Meter | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private onTick: ((meter: Meter) => void) | undefined;
  /** Highest current rate seen, for screens that show it (rooms: current / average / max). */
  private peak = 0;

  constructor(
    label: string,
    private readonly options: { peak?: boolean } = {},
  ) {
    this.status = h('p', { class: 'status', role: 'status' });
    this.bar = h('progress', { 'aria-label': label, max: 1, value: 0, hidden: true });
    this.numbers = h('p', { class: 'numbers' });
    this.extra = h('div', { class: 'extra' });
    this.element = h('div', { class: 'transfer', hidden: true }, this.status, this.bar, this.numbers, this.extra);
  }

  /** Show the block, cleared, for a new transfer. */
  reset(): void {
    this.stop();
    this.meter = undefined;
    this.element.hidden = false;
    this.bar.hidden = true;
    this.numbers.textContent = '';
    this.extra.replaceChildren();
    this.setStatus('info', '');
  }

  setStatus(tone: Tone, text: string): void {
    if (this.status.textContent !== text) this.status.textContent = text;
    this.element.dataset.tone = tone;
  }

  /** Start measuring; `tick` runs on every refresh, for screens whose wording depends on time (stalls). */
  track(total: number | undefined, tick?: (meter: Meter) => void): Meter {
    this.stop();
    this.meter = new Meter(total);
    this.peak = 0;
    this.onTick = tick;
    this.bar.hidden = false;
    this.timer = setInterval(() => this.render(), REFRESH_MS);
    this.render();
    return this.meter;
  }

  setTotal(total: number | undefined): void {
    if (this.meter) this.meter.total = total;
    this.render();
  }

  /** Stop the timer and show the final figures (average speed and duration instead of current speed and ETA). */
  finish(keepBar = true): void {
    this.stop();
    if (this.meter) {
      this.meter.finish();
      this.render(true);
    }
    if (!keepBar) this.bar.hidden = true;
  }

  hideFigures(): void {
    this.bar.hidden = true;
    this.numbers.textContent = '';
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  render(final = false): void {
    const meter = this.meter;
    if (!meter) return;
    this.onTick?.(meter);
    const { bytes, total } = meter;
    if (total !== undefined && total > 0) {
      this.bar.max = total;
      this.bar.value = Math.min(bytes, total);
    } else if (total === 0) {
      this.bar.max = 1;
      this.bar.value = final ? 1 : 0;
    } else {
      // Unknown size: an indeterminate bar while it runs.
      this.bar.removeAttribute('value');
      if (final) {
        this.bar.max = 1;
        this.bar.value = 1;
      }
    }
    const parts: string[] = [
      total === undefined ? formatBytes(bytes) : `${formatBytes(bytes)} of ${formatBytes(total)}`,
    ];
    if (final) {
      parts.push(`${formatDuration(meter.elapsed())}`, `${formatRate(meter.average())} average`);
      if (this.options.peak) parts.push(`${formatRate(Math.max(this.peak, meter.average()))} max`);
    } else {
      // Nothing moving now is 0 B/s, whatever the last seconds averaged, and no time left can be promised.
      const stalled = meter.stalledFor() >= STALLED_MS;
      const rate = stalled ? 0 : meter.rate();
      this.peak = Math.max(this.peak, rate);
      parts.push(formatRate(rate));
      if (this.options.peak) parts.push(`${formatRate(meter.average())} average`, `${formatRate(this.peak)} max`);
      const eta = stalled ? undefined : meter.eta();
      if (eta !== undefined) parts.push(`${formatDuration(eta)} left`);
    }
    this.numbers.textContent = parts.join(' · ');
  }

  setExtra(...nodes: (Node | string)[]): void {
    replaceChildren(this.extra, ...nodes);
  }
}
