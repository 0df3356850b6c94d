// The seed material's register/offer protocol (SPEC §2, last bullet), served as its Go/pion demo expects:
// answer peers connect to `/register`, offer peers to `/offer`; frames are `{"command": N, "payload": <base64>}`
// where the payload is JSON `{"source","target","body"}` and `body` is base64 too (Go marshals []byte that way).
// Each endpoint is its own id namespace: offers and offer-side candidates go to `/register` peers, answers and
// answer-side candidates back to `/offer` peers. Every command N is answered with N+100 and `{"code","msg"}`.
import { z } from 'zod';
import { checkJsonShape } from '../protocol/json-limits.ts';
import type { Connection } from './connection.ts';

export type CompatRole = 'register' | 'offer';

export const Command = { Init: 1, Answer: 2, Offer: 3, Candidate: 4 } as const;

/** Reply codes (payload `code`): 0 is success, the rest say what went wrong. Documented in docs/signaling.md. */
export const CompatCode = {
  Ok: 0,
  BadRequest: 1,
  UnknownTarget: 2,
  IdTaken: 3,
  NotAllowed: 4,
  TooLarge: 5,
  RateLimited: 6,
} as const;

const ALLOWED: Record<CompatRole, readonly number[]> = {
  register: [Command.Init, Command.Answer, Command.Candidate],
  offer: [Command.Init, Command.Offer, Command.Candidate],
};

// Go's encoding/base64 StdEncoding, padded, which is what encoding/json writes for []byte.
const Base64 = z.string().regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'not base64');
const Frame = z.object({ command: z.number().int(), payload: Base64.nullable().optional() });
// A nil []byte marshals as null; an empty string field as "".
const Payload = z.object({
  source: z.string().max(256).optional(),
  target: z.string().max(256).optional(),
  body: Base64.nullable().optional(),
});

type Reply = { code: number; msg: string };

class CompatPeer {
  id: string | undefined;
  /** Peers of the other role that addressed this one: an answer may go only to an offer peer that asked. */
  readonly contacts = new WeakSet<CompatPeer>();
  constructor(
    readonly connection: Connection,
    readonly role: CompatRole,
  ) {}
}

export class SeedCompat {
  private readonly ids: Record<CompatRole, Map<string, CompatPeer>> = { register: new Map(), offer: new Map() };

  get size(): number {
    return this.ids.register.size + this.ids.offer.size;
  }

  /** Serve the seed protocol on a connection; returns what to do when it closes. */
  accept(connection: Connection, role: CompatRole): () => void {
    const peer = new CompatPeer(connection, role);
    connection.onMessage((data) => {
      const admitted = connection.admit(data);
      if (!admitted) return;
      if (!admitted.ok) {
        const code = admitted.problem === 'too_large' ? CompatCode.TooLarge : CompatCode.RateLimited;
        return this.reply(peer, 0, { code, msg: admitted.problem.replace('_', ' ') });
      }
      this.onFrame(peer, admitted.text);
    });
    return () => {
      if (peer.id !== undefined && this.ids[role].get(peer.id) === peer) this.ids[role].delete(peer.id);
    };
  }

  private onFrame(peer: CompatPeer, text: string): void {
    let frame: z.infer<typeof Frame>;
    let payload: z.infer<typeof Payload>;
    try {
      frame = Frame.parse(boundedJson(text));
      payload = frame.payload ? Payload.parse(boundedJson(Buffer.from(frame.payload, 'base64').toString('utf8'))) : {};
    } catch {
      const command = commandOf(text);
      return this.reply(peer, command, { code: CompatCode.BadRequest, msg: 'malformed frame or payload' });
    }
    const { command } = frame;
    if (!ALLOWED[peer.role].includes(command)) {
      const known = Object.values(Command).includes(command as 1);
      const msg = known ? `command ${command} is not accepted on /${peer.role}` : `unknown command ${command}`;
      return this.reply(peer, command, { code: known ? CompatCode.NotAllowed : CompatCode.BadRequest, msg });
    }
    const identified = this.identify(peer, payload.source);
    if (identified) return this.reply(peer, command, identified);
    if (command === Command.Init) return this.reply(peer, command, { code: CompatCode.Ok, msg: 'ok' });

    const otherRole: CompatRole = peer.role === 'register' ? 'offer' : 'register';
    const target = payload.target ? this.ids[otherRole].get(payload.target) : undefined;
    if (!target) {
      const msg = payload.target ? `unknown target '${payload.target}'` : 'target is required';
      return this.reply(peer, command, { code: CompatCode.UnknownTarget, msg });
    }
    if (peer.role === 'register' && !peer.contacts.has(target)) {
      return this.reply(peer, command, {
        code: CompatCode.NotAllowed,
        msg: `'${target.id}' has not sent you an offer`,
      });
    }
    target.contacts.add(peer);
    const forwarded = { source: peer.id, target: target.id, body: payload.body ?? null };
    target.connection.send(JSON.stringify({ command, payload: base64Json(forwarded) }));
    this.reply(peer, command, { code: CompatCode.Ok, msg: 'ok' });
  }

  /**
   * A connection's id is the first `source` it sends; later frames must repeat it or leave it out, so no one
   * speaks for another peer.
   */
  private identify(peer: CompatPeer, source: string | undefined): Reply | undefined {
    if (!source) {
      return peer.id === undefined ? { code: CompatCode.BadRequest, msg: 'source is required' } : undefined;
    }
    if (peer.id !== undefined) {
      return source === peer.id
        ? undefined
        : { code: CompatCode.NotAllowed, msg: `this connection is '${peer.id}', not '${source}'` };
    }
    const ids = this.ids[peer.role];
    if (ids.has(source)) return { code: CompatCode.IdTaken, msg: `id '${source}' is taken` };
    peer.id = source;
    peer.connection.registered = true;
    ids.set(source, peer);
    return undefined;
  }

  private reply(peer: CompatPeer, command: number, reply: Reply): void {
    peer.connection.send(JSON.stringify({ command: command + 100, payload: base64Json(reply) }));
  }
}

/** JSON.parse of a frame or payload whose shape is first bounded (json-limits.ts); throws like JSON.parse. */
function boundedJson(text: string): unknown {
  const shape = checkJsonShape(text);
  if (shape) throw new SyntaxError(shape.reason);
  return JSON.parse(text);
}

function base64Json(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64');
}

/** The command number of a frame that failed to parse, when there is one to answer to. */
function commandOf(text: string): number {
  try {
    const value: unknown = boundedJson(text);
    const command = (value as { command?: unknown } | null)?.command;
    return typeof command === 'number' && Number.isInteger(command) ? command : 0;
  } catch {
    return 0;
  }
}
