// A CLI process under test: its output collected, waits on patterns and JSON events, bounded by deadlines; stdin
// lines in, a signal to stop it.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export class Proc {
  out = '';
  err = '';
  outBytes: Buffer[] = [];
  readonly exited: Promise<number | null>;
  private readonly watchers: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.outBytes.push(d);
      this.out += d.toString('latin1');
      this.notify();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.err += d.toString('utf8');
      this.notify();
    });
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** JSON lines of a stream, parsed (non-JSON lines skipped). */
  events(stream: 'out' | 'err' = 'out'): Array<Record<string, unknown>> {
    const events: Array<Record<string, unknown>> = [];
    for (const line of this[stream].split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        events.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // Not an event.
      }
    }
    return events;
  }

  event(name: string, stream: 'out' | 'err' = 'out'): Record<string, unknown> | undefined {
    return this.events(stream).find((e) => e.event === name);
  }

  /** Resolves when `check` holds; rejects at the deadline or when the process ends first. */
  waitUntil(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${what} in ${timeoutMs} ms; stderr: ${this.err}`)),
        timeoutMs,
      );
      const watcher = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.watchers.splice(this.watchers.indexOf(watcher), 1);
        resolve();
      };
      this.watchers.push(watcher);
      this.exited.then((code) => {
        if (check()) return;
        clearTimeout(timer);
        reject(new Error(`exited (${code}) before ${what}; stderr: ${this.err}`));
      });
      watcher();
    });
  }

  /** Resolves when `stream` matches `pattern`; rejects at the deadline or when the process ends first. */
  waitFor(stream: 'out' | 'err', pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    return this.waitUntil(() => pattern.test(this[stream]), `${pattern} on std${stream}`, timeoutMs);
  }

  /** One line to the process's stdin. */
  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Ends the process (SIGKILL unless told otherwise: SIGTERM to check a graceful exit) and resolves its exit code. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}
