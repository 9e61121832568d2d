import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import type { RawData } from 'ws';

import { WeftError } from '../errors.js';
import {
  AWARENESS_CLIENT_KEY,
  AWARENESS_STATE_KEY,
  type RoomEvent,
  type RoomMember,
} from '../rooms/room-peer.js';
import { convertYjsUpdate, isReadableYjsUpdate } from '../rooms/yjs-documents.js';
import { ClientSession, type SessionDeps } from './client-session.js';
import type { ClientSocket } from './client-socket.js';
import { sharedFrame } from './event-frames.js';
import type { JoinRequest } from './join-authorization.js';

/** y-websocket message types (the first varuint of a frame). */
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const MESSAGE_AUTH = 2;
const MESSAGE_QUERY_AWARENESS = 3;

/** y-protocols sync message types. */
const SYNC_STEP_1 = 0;
const SYNC_STEP_2 = 1;
const SYNC_UPDATE = 2;

/**
 * y-protocols drops a remote awareness state not renewed for 30 s; states bridged from
 * Liveblocks presence are renewed at half that, as y-websocket clients renew their own.
 */
const AWARENESS_RENEW_MS = 15_000;

/** One awareness entry as y-protocols encodes it. */
interface AwarenessEntry {
  clientId: number;
  clock: number;
  state: unknown;
}

/**
 * A connection of a stock `y-websocket` provider (`/y/{roomId}`): binary y-protocols sync of the
 * room's root document and awareness. Awareness rides in presence (`__yjs`, `__yjs_clientid`,
 * as `@liveblocks/yjs` carries it), so y-websocket and Liveblocks clients see each other.
 */
export class YwsSession extends ClientSession {
  protected readonly protocol = 'yjs';
  /** Per awareness client id, the highest clock sent to this client. */
  private readonly sentClocks = new Map<number, number>();
  private renewTimer: NodeJS.Timeout | undefined;

  constructor(socket: ClientSocket, deps: SessionDeps, request: JoinRequest) {
    super(socket, deps, request);
  }

  deliver(event: RoomEvent): void {
    switch (event.type) {
      case 'yjs-update':
        // Sub-documents are a Liveblocks notion; a client gets no echo of its own update.
        if (event.guid !== null || event.origin === this.actor) return;
        this.socket.send(
          sharedFrame(event, 'yws', () =>
            syncFrame(SYNC_UPDATE, convertYjsUpdate(event.update, event.v2, false)),
          ),
        );
        return;
      case 'presence':
        this.sendAwareness([event.member]);
        return;
      case 'user-left':
        this.sendAwareness([event.member], { removed: true });
        return;
      default:
        return;
    }
  }

  protected onJoined(others: RoomMember[]): void {
    const documents = this.room!.documents;
    // Liveblocks clients list a user once they know its presence: empty until awareness comes.
    this.room!.presence.updatePresence(this.actor, {}, { full: true, awarenessClock: 0 });
    this.sendSync(SYNC_STEP_1, documents.stateVector(null));
    this.sendAwareness(others);
    this.renewTimer = setInterval(
      () => this.sendAwareness(this.room!.presence.allMembers()),
      AWARENESS_RENEW_MS,
    );
    this.renewTimer.unref();
  }

  protected override onClosed(): void {
    clearInterval(this.renewTimer);
  }

  protected onMessage(data: RawData, isBinary: boolean): void {
    if (!isBinary) throw new WeftError('INVALID_MESSAGE', 'Send binary frames on /y.');
    const bytes = toBytes(data);
    const decoder = decoding.createDecoder(bytes);

    const type = decoding.readVarUint(decoder);
    this.countMessage(
      type === MESSAGE_SYNC ? 'sync' : type === MESSAGE_AWARENESS ? 'awareness' : 'other',
    );
    switch (type) {
      case MESSAGE_SYNC:
        return this.onSync(decoder);
      case MESSAGE_AWARENESS:
        return this.onAwareness(decoding.readVarUint8Array(decoder), bytes);
      case MESSAGE_QUERY_AWARENESS:
        this.sendAwareness(this.room!.presence.allMembers());
        return;
      case MESSAGE_AUTH:
        return;
      default:
        throw new WeftError('INVALID_MESSAGE', 'Unknown y-websocket message type.');
    }
  }

  private onSync(decoder: decoding.Decoder) {
    const type = decoding.readVarUint(decoder);
    const payload = decoding.readVarUint8Array(decoder);
    if (type === SYNC_STEP_1) {
      this.sendSync(SYNC_STEP_2, this.room!.documents.diff(null, payload, false));
      return;
    }
    if (type !== SYNC_STEP_2 && type !== SYNC_UPDATE) {
      throw new WeftError('INVALID_MESSAGE', 'Unknown y-protocols sync message type.');
    }
    if (!this.canWrite) {
      this.logRefusedWrite('yjs', { bytes: payload.byteLength });
      return;
    }
    if (!isReadableYjsUpdate(payload, false)) {
      throw new WeftError('INVALID_MESSAGE', 'The Yjs update is not readable.');
    }
    this.submitYjsUpdate(null, payload, false);
  }

  private onAwareness(update: Uint8Array, frame: Uint8Array) {
    const entries = decodeAwareness(update);
    const own = entries[entries.length - 1];
    if (!own) return;

    this.room!.presence.updatePresence(
      this.actor,
      { [AWARENESS_STATE_KEY]: own.state, [AWARENESS_CLIENT_KEY]: own.clientId },
      { full: true, awarenessClock: own.clock },
    );
    // y-websocket counts its own awareness coming back as a sign of life.
    this.sentClocks.set(own.clientId, Math.max(own.clock, this.sentClocks.get(own.clientId) ?? 0));
    this.socket.send(frame);
  }

  private sendSync(type: number, payload: Uint8Array) {
    this.socket.send(syncFrame(type, payload));
  }

  /**
   * Sends members' awareness states. Clocks only grow per client id, as y-protocols demands:
   * a renewal or removal goes out one above the last clock this client saw.
   */
  private sendAwareness(members: readonly RoomMember[], options: { removed?: boolean } = {}) {
    const entries: AwarenessEntry[] = [];
    for (const member of members) {
      if (member.actor === this.actor) continue;
      const clientId = member.presence[AWARENESS_CLIENT_KEY];
      if (typeof clientId !== 'number' || !Number.isSafeInteger(clientId)) continue;

      const sent = this.sentClocks.get(clientId) ?? -1;
      const clock = Math.max(member.awarenessClock, sent + 1);
      this.sentClocks.set(clientId, clock);
      const state = options.removed ? null : (member.presence[AWARENESS_STATE_KEY] ?? null);
      entries.push({ clientId, clock, state });
    }
    if (entries.length === 0) return;

    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(encoder, encodeAwareness(entries));
    this.socket.send(encoding.toUint8Array(encoder));
  }
}

function syncFrame(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MESSAGE_SYNC);
  encoding.writeVarUint(encoder, type);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

function decodeAwareness(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const entries: AwarenessEntry[] = [];
  for (let i = 0; i < count; i += 1) {
    const clientId = decoding.readVarUint(decoder);
    const clock = decoding.readVarUint(decoder);
    let state: unknown;
    try {
      state = JSON.parse(decoding.readVarString(decoder));
    } catch {
      throw new WeftError('INVALID_MESSAGE', 'An awareness state is not JSON.');
    }
    entries.push({ clientId, clock, state });
  }
  return entries;
}

function encodeAwareness(entries: readonly AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, entries.length);
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.clientId);
    encoding.writeVarUint(encoder, entry.clock);
    encoding.writeVarString(encoder, JSON.stringify(entry.state));
  }
  return encoding.toUint8Array(encoder);
}
