// A real coturn (Debian's `turnserver`) for tests and benchmarks, on loopback only: a config written to a temp
// folder, free ports, started with `turnserver -c FILE`, ready once it answers a STUN Binding request, and stopped
// by its PID (also when the test process dies without cleaning up).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage, TYPE_BINDING_SUCCESS } from '../stun/client.ts';

export interface Coturn {
  /** Where peers reach it: 127.0.0.1. */
  host: string;
  /** UDP and TCP listening port. */
  port: number;
  /** The address relayed transport addresses are allocated on (RFC 8656 §2: the relayed transport address). */
  relayIp: string;
  realm: string;
  /** The `static-auth-secret` (TURN REST API shared secret). */
  secret: string;
  pid: number;
  /** Everything coturn has logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export interface CoturnOptions {
  secret?: string;
  realm?: string;
  /**
   * Relayed addresses on 127.0.0.2, a loopback address no peer binds to: coturn relays only for peers holding a
   * permission (RFC 8656 §9), and permissions are per IP address, ignoring the port. With relay-ip 127.0.0.1 a
   * peer's host socket (also 127.0.0.1) would hold the same permission as its relayed address, and libjuice,
   * which filters only the candidates it advertises under a relay-only policy, could get traffic through
   * from its host socket. With 127.0.0.2 only relay-to-relay paths work.
   */
  relayIp?: string;
  /** Extra config lines. */
  extra?: string[];
  /** Milliseconds to wait for the first Binding answer. */
  startTimeoutMs?: number;
}

const running = new Set<ChildProcess>();
// A test that throws past its cleanup must not leave a turnserver behind.
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function startCoturn(options: CoturnOptions = {}): Promise<Coturn> {
  const host = '127.0.0.1';
  const relayIp = options.relayIp ?? '127.0.0.2';
  const realm = options.realm ?? 'ferry.test';
  const secret = options.secret ?? randomBytes(18).toString('base64url');
  const port = await freePort(host);
  // Relay ports above Linux's ephemeral range (32768-60999), so peers' own sockets rarely meet them; coturn
  // tries another port of the range when one is taken.
  const minPort = 61000 + Math.floor(Math.random() * 3500);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-coturn-'));
  const config = join(dir, 'turnserver.conf');
  writeFileSync(
    config,
    [
      `listening-ip=${host}`,
      `listening-port=${port}`,
      `relay-ip=${relayIp}`,
      `min-port=${minPort}`,
      `max-port=${minPort + 999}`,
      `realm=${realm}`,
      'use-auth-secret',
      `static-auth-secret=${secret}`,
      'fingerprint',
      // coturn refuses loopback peers by default (CreatePermission answers 403).
      'allow-loopback-peers',
      'no-multicast-peers',
      'no-tls',
      'no-dtls',
      'no-cli',
      'no-rfc5780',
      'log-file=stdout',
      'simple-log',
      `pidfile=${join(dir, 'turnserver.pid')}`,
      // Without this coturn opens (and as root creates) a user database under /var.
      `userdb=${join(dir, 'turndb')}`,
      ...(options.extra ?? []),
      '',
    ].join('\n'),
  );

  const child = spawn('turnserver', ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit').catch(() => []);
  const spawned = await Promise.race([
    once(child, 'spawn').then(() => true),
    once(child, 'error').then(([err]) => {
      throw new Error(`cannot start turnserver (apt-get install coturn): ${(err as Error).message}`);
    }),
  ]);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    if (!spawned || child.pid === undefined) throw new Error('turnserver did not start');
    await untilAnswering(host, port, options.startTimeoutMs ?? 10_000, () => child.exitCode !== null);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}; turnserver said:\n${output}`);
  }
  return { host, port, relayIp, realm, secret, pid: child.pid, log: () => output, stop };
}

/** A port free for both UDP and TCP on `host` (coturn listens on both). */
async function freePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, host, () => resolve());
    });
    const port = udp.address().port;
    const tcp = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, host, () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (free) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    if (free) return port;
  }
  throw new Error('no free UDP+TCP port');
}

/** Send STUN Binding requests (RFC 8489 §6) until one is answered: coturn is then listening. */
async function untilAnswering(host: string, port: number, timeoutMs: number, dead: () => boolean): Promise<void> {
  const socket = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => finish(new Error(`turnserver not answering on ${port}`)), timeoutMs);
      const probe = setInterval(() => {
        if (dead()) return finish(new Error('turnserver exited'));
        socket.send(encodeMessage(), port, host);
      }, 100);
      const finish = (err?: Error) => {
        clearTimeout(deadline);
        clearInterval(probe);
        if (err) reject(err);
        else resolve();
      };
      socket.on('message', (msg) => {
        try {
          if (decodeMessage(msg).type === TYPE_BINDING_SUCCESS) finish();
        } catch {
          // not a well-formed answer: keep probing
        }
      });
      socket.on('error', () => {}); // ICMP port unreachable before coturn binds: keep probing
    });
  } finally {
    socket.close();
  }
}
