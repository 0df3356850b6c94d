// The conditions of a run, printed above its figures: figures from a shared 2-core machine mean little without them.
import os from 'node:os';

export function describeMachine(): string {
  const [one, five] = os.loadavg();
  const gib = (os.totalmem() / 2 ** 30).toFixed(1);
  return [
    `machine: ${os.availableParallelism()} CPU (${os.cpus()[0]?.model ?? 'unknown'}), ${gib} GiB RAM, ${os.type()} ${os.release()}`,
    `node ${process.version}; load average at start ${one?.toFixed(2)} (1 min), ${five?.toFixed(2)} (5 min)`,
  ].join('\n');
}

/** The 1-minute load average: how much else the machine was doing. */
export function loadAverage(): string {
  return (os.loadavg()[0] ?? 0).toFixed(2);
}
