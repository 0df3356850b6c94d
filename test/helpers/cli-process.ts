// A CLI process under test: its output collected, awaited by pattern with a deadline, stopped by SIGTERM.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';

export class Proc {
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  private readonly watchers: Array<() => void> = [];

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d) => {
      this.out += d;
      this.notify();
    });
    child.stderr?.on('data', (d) => {
      this.err += d;
      this.notify();
    });
    this.exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** Resolve when `stream` matches `pattern`; reject at the deadline or if the process ends first. */
  waitFor(stream: 'out' | 'err', pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no ${pattern} on std${stream} in ${timeoutMs} ms; stderr: ${this.err}`));
      }, timeoutMs);
      const check = () => {
        if (pattern.test(this[stream])) {
          clearTimeout(timer);
          this.watchers.splice(this.watchers.indexOf(check), 1);
          resolve();
        }
      };
      this.watchers.push(check);
      this.exited.then((code) => {
        if (!pattern.test(this[stream])) {
          clearTimeout(timer);
          reject(new Error(`exited (${code}) before ${pattern}; stderr: ${this.err}`));
        }
      });
      check();
    });
  }

  write(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}
