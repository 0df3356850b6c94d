// The signaling protocol spoken at `/_/ws`: every message, both directions, as zod schemas that the hub, the
// Node client and the browser share. Isomorphic on purpose (no `node:` imports, no Buffer): it is bundled into
// the web app. docs/signaling.md describes each message; keep the two in step.
import { z } from 'zod';
import { checkJsonShape, MAX_JSON_DEPTH } from './json-limits.ts';

/** Where the hub listens, under the server's reserved prefix. */
export const SIGNALING_PATH = '/_/ws';
/** Protocol versions this code speaks, newest last. A client offers a list in `hello`; the hub picks one. */
export const PROTOCOL_VERSIONS = [1] as const;
export const PROTOCOL_VERSION = 1;

/** Stable error codes: clients branch on these, never on the human message. */
export const ERROR_CODES = [
  'bad_message',
  'unsupported_version',
  'hello_required',
  'already_registered',
  'id_taken',
  'id_reserved',
  'server_full',
  'too_many_peers',
  'from_not_allowed',
  'unknown_target',
  'not_allowed',
  'room_full',
  'too_many_rooms',
  'already_in_room',
  'not_in_room',
  'too_large',
  'rate_limited',
  'too_deep',
  'unknown_nameplate',
  'nameplate_busy',
  'nameplate_taken',
  'too_many_nameplates',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

// Ids and room names end up in logs, CLI output and URLs, so they stay printable and short.
export const PeerId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a peer id is 1-64 characters of A-Z a-z 0-9 _ . -');
export const RoomName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[^\p{Cc}]+$/u, 'a room name has no control characters');
/** A request id: the hub copies it into the reply or error that answers this message. */
export const RequestId = z.union([z.string().min(1).max(64), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)]);
export type RequestId = z.infer<typeof RequestId>;
const Sdp = z.string().min(1);
/** A code transfer's nameplate: the number in front of its code words (src/protocol/code.ts). */
export const Nameplate = z.number().int().min(1).max(999_999);

/** The browser's RTCIceServer. */
export const IceServer = z.object({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof IceServer>;

/** The browser's RTCIceCandidateInit; `candidate` is the `candidate:…` attribute (RFC 8839 §5.1). */
export const IceCandidate = z.object({
  candidate: z.string().max(4096),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(65535).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});
export type IceCandidate = z.infer<typeof IceCandidate>;

// ---- client → hub ---------------------------------------------------------------------------------------
// Strict objects: an unknown key is a client bug (or an attempt to smuggle one, like `from`), and saying so
// early beats silently dropping it. New fields come with a new protocol version.

const request = { rid: RequestId.optional() };
const addressed = { ...request, to: PeerId };

export const Hello = z.strictObject({
  type: z.literal('hello'),
  ...request,
  /** Versions the client speaks; the hub answers with the highest it shares. */
  versions: z.array(z.number().int().min(1).max(1000)).min(1).max(16),
  /** The id to register under; the hub assigns a random one when absent. */
  id: PeerId.optional(),
});
export const Join = z.strictObject({
  type: z.literal('join'),
  ...request,
  room: RoomName,
  /** Most members the room may hold, this peer included. Applies only when this join creates the room. */
  capacity: z.number().int().min(1).max(1_000_000).optional(),
});
export const Leave = z.strictObject({ type: z.literal('leave'), ...request, room: RoomName });
export const Ping = z.strictObject({ type: z.literal('ping'), ...request });
/** A sender asks for a nameplate: the one given (a code chosen with `--code`), or one the hub picks. */
export const Allocate = z.strictObject({ type: z.literal('allocate'), ...request, nameplate: Nameplate.optional() });
/** A receiver claims the nameplate of the code it was given; the hub introduces it to the nameplate's owner. */
export const Claim = z.strictObject({ type: z.literal('claim'), ...request, nameplate: Nameplate });
/** Give up a nameplate one allocated or claimed. */
export const Release = z.strictObject({ type: z.literal('release'), ...request, nameplate: Nameplate });

// Messages the hub forwards to one peer (`to`), stamping the sender's id as `from`.
export const Offer = z.strictObject({ type: z.literal('offer'), ...addressed, sdp: Sdp });
export const Answer = z.strictObject({ type: z.literal('answer'), ...addressed, sdp: Sdp });
export const Candidate = z.strictObject({ type: z.literal('candidate'), ...addressed, candidate: IceCandidate });
export const EndOfCandidates = z.strictObject({ type: z.literal('end-of-candidates'), ...addressed });
export const Hangup = z.strictObject({
  type: z.literal('hangup'),
  ...addressed,
  reason: z.string().max(256).optional(),
});
/**
 * Any JSON value that JSON.parse made. Whatever it returns already is JSON, so walking it again (as `z.json()`
 * does, copying it) only costs: 270 µs of an 11 KB message of 2,000 numbers, most of the hub's CPU per message.
 */
const JsonData = z.custom<z.core.util.JSONType>((value) => value !== undefined, 'data is required');

/** Application data between two peers (a PAKE exchange, a file offer): any JSON, forwarded as is. */
export const Message = z.strictObject({ type: z.literal('message'), ...addressed, data: JsonData });

export const FORWARDED_TYPES = ['offer', 'answer', 'candidate', 'end-of-candidates', 'hangup', 'message'] as const;
export type ForwardedType = (typeof FORWARDED_TYPES)[number];

export const ClientMessage = z.discriminatedUnion('type', [
  Hello,
  Join,
  Leave,
  Ping,
  Allocate,
  Claim,
  Release,
  Offer,
  Answer,
  Candidate,
  EndOfCandidates,
  Hangup,
  Message,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ForwardedClientMessage = Extract<ClientMessage, { type: ForwardedType }>;

// ---- hub → client ---------------------------------------------------------------------------------------
// Plain (non-strict) objects: a client ignores fields it does not know, so the hub can add some.

const reply = { rid: RequestId.optional() };

export const Limits = z.object({
  /** Largest message the hub accepts, in UTF-8 bytes. */
  maxMessageBytes: z.number().int(),
  /** Messages per second a peer may send (sustained; bursts up to one second's worth). */
  messagesPerSecond: z.number(),
  maxRoomsPerPeer: z.number().int(),
  maxPeersPerRoom: z.number().int(),
  /** The hub pings every this many milliseconds and drops a peer that stayed silent for a whole interval. */
  heartbeatIntervalMs: z.number().int(),
});
export type Limits = z.infer<typeof Limits>;

export const Welcome = z.object({
  type: z.literal('welcome'),
  ...reply,
  version: z.number().int(),
  id: PeerId,
  iceServers: z.array(IceServer),
  limits: Limits,
});
export const Joined = z.object({
  type: z.literal('joined'),
  ...reply,
  room: RoomName,
  /** The other members, oldest first. */
  members: z.array(PeerId),
  /** The room's capacity, or null for none (the hub's peers-per-room limit still applies). */
  capacity: z.number().int().nullable(),
});
export const Left = z.object({ type: z.literal('left'), ...reply, room: RoomName });
export const Pong = z.object({ type: z.literal('pong'), ...reply });
export const Allocated = z.object({ type: z.literal('allocated'), ...reply, nameplate: Nameplate });
/** The claim holds: `peer` is the nameplate's owner, now reachable (and it can reach us). */
export const Claimed = z.object({ type: z.literal('claimed'), ...reply, nameplate: Nameplate, peer: PeerId });
export const Released = z.object({ type: z.literal('released'), ...reply, nameplate: Nameplate });
/** Sent for a forwarded message that carried a request id, once the hub has handed it to the target. */
export const Ack = z.object({ type: z.literal('ack'), ...reply });
export const MemberJoined = z.object({ type: z.literal('member-joined'), room: RoomName, peer: PeerId });
export const LEAVE_REASONS = ['left', 'closed', 'timeout', 'kicked'] as const;
export const MemberLeft = z.object({
  type: z.literal('member-left'),
  room: RoomName,
  peer: PeerId,
  reason: z.enum(LEAVE_REASONS),
});
/** To a nameplate's owner: `peer` claimed it. */
export const NameplateClaimed = z.object({ type: z.literal('nameplate-claimed'), nameplate: Nameplate, peer: PeerId });
/** To a nameplate's owner: its claimer went before saying anything; the nameplate is claimable again. */
export const NameplateUnclaimed = z.object({
  type: z.literal('nameplate-unclaimed'),
  nameplate: Nameplate,
  peer: PeerId,
});
/** To one side of a nameplate's pair: the other side released it or left the hub. */
export const NameplatePeerLeft = z.object({
  type: z.literal('nameplate-peer-left'),
  nameplate: Nameplate,
  peer: PeerId,
  reason: z.enum(LEAVE_REASONS),
});
export const ErrorMessage = z.object({
  type: z.literal('error'),
  ...reply,
  code: z.enum(ERROR_CODES),
  message: z.string(),
  /** For `unsupported_version`: the versions the hub speaks. */
  versions: z.array(z.number().int()).optional(),
  /** For a forwarded message refused (`unknown_target`, `not_allowed`): the `to` it named. */
  to: PeerId.optional(),
});

const from = { from: PeerId };
export const OfferFrom = z.object({ type: z.literal('offer'), ...from, sdp: Sdp });
export const AnswerFrom = z.object({ type: z.literal('answer'), ...from, sdp: Sdp });
export const CandidateFrom = z.object({ type: z.literal('candidate'), ...from, candidate: IceCandidate });
export const EndOfCandidatesFrom = z.object({ type: z.literal('end-of-candidates'), ...from });
export const HangupFrom = z.object({ type: z.literal('hangup'), ...from, reason: z.string().optional() });
export const MessageFrom = z.object({ type: z.literal('message'), ...from, data: JsonData });

export const ServerMessage = z.discriminatedUnion('type', [
  Welcome,
  Joined,
  Left,
  Pong,
  Ack,
  MemberJoined,
  MemberLeft,
  Allocated,
  Claimed,
  Released,
  NameplateClaimed,
  NameplateUnclaimed,
  NameplatePeerLeft,
  ErrorMessage,
  OfferFrom,
  AnswerFrom,
  CandidateFrom,
  EndOfCandidatesFrom,
  HangupFrom,
  MessageFrom,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type ForwardedServerMessage = Extract<ServerMessage, { type: ForwardedType }>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

// ---- parsing --------------------------------------------------------------------------------------------

export type Parsed<T> =
  | { ok: true; message: T }
  | { ok: false; code: 'bad_message' | 'from_not_allowed' | 'too_deep' | 'too_large'; reason: string; rid?: RequestId };
/** Parse one text frame from a client. Never throws: a bad frame yields a reason fit to send back. */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  // Before any parsing: the schema's walk of `data` recurses, and would overflow the stack on deep nesting.
  const shape = checkJsonShape(text);
  if (shape) return { ok: false, code: shape.problem === 'too_deep' ? 'too_deep' : 'too_large', reason: shape.reason };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, code: 'bad_message', reason: 'not JSON' };
  }
  // Checked before the schema so the client hears the real problem, not "unrecognized key".
  if (isRecord(value) && 'from' in value) {
    return {
      ok: false,
      code: 'from_not_allowed',
      reason: 'the hub sets `from`; a client may not',
      rid: requestIdOf(value),
    };
  }
  const result = ClientMessage.safeParse(value);
  if (result.success) return { ok: true, message: result.data };
  return { ok: false, code: 'bad_message', reason: describe(result.error), rid: requestIdOf(value) };
}

/** Parse one text frame from the hub (clients use this). */
export function parseServerMessage(text: string): ServerMessage | undefined {
  // Depth only: how many values a hub message holds (a big room's member list) is the hub's to bound.
  if (checkJsonShape(text, MAX_JSON_DEPTH, Number.POSITIVE_INFINITY)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = ServerMessage.safeParse(value);
  return result.success ? result.data : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Only on the error path: a failed safeParse builds an error object, too dear for every message.
function requestIdOf(value: unknown): RequestId | undefined {
  if (!isRecord(value) || value.rid === undefined) return undefined;
  const parsed = RequestId.safeParse(value.rid);
  return parsed.success ? parsed.data : undefined;
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid message';
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return `${where}${issue.message}`;
}
