import type { EphemeralMessage } from './bus.js';

/**
 * What travels on a room's pub/sub channel. The first byte names the kind:
 * - `E`: durable entries, built by the append script: `E<prev seq>\n`, then per entry a 4-byte
 *   big-endian length and the bytes. The entries have seqs prev+1, prev+2, …
 * - `P`: an ephemeral message, `P{"n":<from node>,"m":<message>}`.
 * - `Q`: a probe a node sends itself to learn that its subscription is live again,
 *   `Q{"n":<node>,"t":<token>}`.
 */
export type BusFrame =
  | { readonly kind: 'entries'; readonly prev: number; readonly entries: readonly Uint8Array[] }
  | { readonly kind: 'ephemeral'; readonly fromNode: string; readonly message: EphemeralMessage }
  | { readonly kind: 'probe'; readonly node: string; readonly token: string };

const ENTRIES = 0x45; // 'E'
const EPHEMERAL = 0x50; // 'P'
const PROBE = 0x51; // 'Q'
const NEWLINE = 0x0a;
const LENGTH_BYTES = 4;

/** Encodes an ephemeral message of `fromNode`. */
export function encodeEphemeralFrame(fromNode: string, message: EphemeralMessage): Buffer {
  return Buffer.from(`P${JSON.stringify({ n: fromNode, m: message })}`, 'utf8');
}

/** Encodes a probe of `node` carrying `token`. */
export function encodeProbeFrame(node: string, token: string): Buffer {
  return Buffer.from(`Q${JSON.stringify({ n: node, t: token })}`, 'utf8');
}

/**
 * Decodes a frame, or returns undefined when it is malformed (another program publishing on
 * the channel, or a frame of a newer version): the bus drops it rather than guess.
 */
export function decodeFrame(frame: Buffer): BusFrame | undefined {
  switch (frame[0]) {
    case ENTRIES:
      return decodeEntries(frame);
    case EPHEMERAL:
      return decodeJson(frame, (value) =>
        typeof value.n === 'string' && isMessage(value.m)
          ? { kind: 'ephemeral', fromNode: value.n, message: value.m }
          : undefined,
      );
    case PROBE:
      return decodeJson(frame, (value) =>
        typeof value.n === 'string' && typeof value.t === 'string'
          ? { kind: 'probe', node: value.n, token: value.t }
          : undefined,
      );
    default:
      return undefined;
  }
}

function decodeEntries(frame: Buffer): BusFrame | undefined {
  const newline = frame.indexOf(NEWLINE);
  if (newline < 2) return undefined;
  const prev = Number(frame.toString('latin1', 1, newline));
  if (!Number.isSafeInteger(prev) || prev < 0) return undefined;

  const entries: Uint8Array[] = [];
  let offset = newline + 1;
  while (offset < frame.length) {
    if (offset + LENGTH_BYTES > frame.length) return undefined;
    const length = frame.readUInt32BE(offset);
    offset += LENGTH_BYTES;
    if (offset + length > frame.length) return undefined;
    entries.push(frame.subarray(offset, offset + length));
    offset += length;
  }
  return { kind: 'entries', prev, entries };
}

function decodeJson(
  frame: Buffer,
  read: (value: Record<string, unknown>) => BusFrame | undefined,
): BusFrame | undefined {
  try {
    const value: unknown = JSON.parse(frame.toString('utf8', 1));
    return typeof value === 'object' && value !== null
      ? read(value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function isMessage(value: unknown): value is EphemeralMessage {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { type?: unknown }).type === 'string'
  );
}
