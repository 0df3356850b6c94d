// Who may send to whom, and the forward itself. The rule (docs/signaling.md, "Forwarding"): the hub forwards
// from S to T when T is connected and
//   1. S and T share a room, or
//   2. T registered under an id it asked for (a public name, as `ferry listen --id NAME`), or
//   3. T has itself sent S a forwarded message before (so whoever T contacts can answer).
// A server-made id alone is not an address: seeing it in a room one has left does not let one reach it.
import type { ErrorCode, ForwardedClientMessage } from '../protocol/signaling.ts';
import type { Peer, PeerRegistry } from './peers.ts';

export function mayReach(sender: Peer, target: Peer): boolean {
  if (target.publicId || target.contacts?.has(sender)) return true;
  // Iterate the smaller set: a peer is in few rooms, but check cheaply anyway.
  const [few, many] = sender.rooms.size <= target.rooms.size ? [sender, target] : [target, sender];
  for (const room of few.rooms) if (many.rooms.has(room)) return true;
  return false;
}

export type ForwardFailure = { code: Extract<ErrorCode, 'unknown_target' | 'not_allowed'>; reason: string };

/** Hand `message` to its target with the sender's id stamped on it. */
export function forward(
  peers: PeerRegistry,
  sender: Peer,
  message: ForwardedClientMessage,
): ForwardFailure | undefined {
  const target = peers.get(message.to);
  if (!target) return { code: 'unknown_target', reason: `no peer '${message.to}' is connected` };
  if (!mayReach(sender, target)) {
    return { code: 'not_allowed', reason: `'${message.to}' shares no room with you and did not contact you` };
  }
  sender.contacts ??= new WeakSet();
  sender.contacts.add(target);
  // `to` and `rid` belong to the sender; the target sees who it came from instead.
  const { to: _to, rid: _rid, ...fields } = message;
  target.send({ ...fields, from: sender.id });
  return undefined;
}
