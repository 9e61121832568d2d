import { randomUUID } from 'node:crypto';

import type { RawData } from 'ws';

import { WeftError } from '../errors.js';
import type { Presence, RoomEvent, RoomMember } from '../rooms/room-peer.js';
import { convertYjsUpdate, isReadableYjsUpdate } from '../rooms/yjs-documents.js';
import { ClientSession, type SessionDeps } from './client-session.js';
import type { ClientSocket } from './client-socket.js';
import type { JoinRequest } from './join-authorization.js';
import { ClientMsg, ServerMsg } from './liveblocks-codes.js';

/** Key of the root document in the per-guid encoding map. */
const ROOT = '';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Metrics label of each client message code. */
const MESSAGE_KINDS: Record<number, string> = {
  [ClientMsg.UPDATE_PRESENCE]: 'presence',
  [ClientMsg.BROADCAST_EVENT]: 'broadcast',
  [ClientMsg.FETCH_STORAGE]: 'fetch-storage',
  [ClientMsg.UPDATE_STORAGE]: 'storage',
  [ClientMsg.FETCH_YDOC]: 'fetch-ydoc',
  [ClientMsg.UPDATE_YDOC]: 'ydoc',
};

/**
 * A connection speaking the JSON protocol of `@liveblocks/client` (`/v7`, `/v8`): text frames
 * holding one message or an array of them, the text "ping" answered with "pong". Outgoing
 * messages of one turn leave in one frame; ROOM_STATE always travels alone, as the client
 * recognises it only as a frame of its own.
 */
export class LiveblocksSession extends ClientSession {
  protected readonly protocol = 'liveblocks';
  private outbox: unknown[] = [];
  private flushQueued = false;
  /** Documents this client fetched, with the encoding it uses for each (true = v2). */
  private readonly encodings = new Map<string, boolean>();
  private refusedStorageLogged = false;

  constructor(
    socket: ClientSocket,
    deps: SessionDeps,
    request: JoinRequest,
    private readonly protocolVersion: 7 | 8,
  ) {
    super(socket, deps, request);
  }

  deliver(event: RoomEvent): void {
    switch (event.type) {
      case 'user-joined': {
        const { actor, user } = event.member;
        this.queue({
          type: ServerMsg.USER_JOINED,
          actor,
          id: user.id,
          info: user.info,
          scopes: user.scopes,
        });
        return;
      }
      case 'user-left':
        this.queue({ type: ServerMsg.USER_LEFT, actor: event.member.actor });
        return;
      case 'presence':
        this.queue({
          type: ServerMsg.UPDATE_PRESENCE,
          actor: event.member.actor,
          data: event.data,
          // A full presence is marked by targetActor; -1 addresses everyone.
          ...(event.full ? { targetActor: event.targetActor ?? -1 } : {}),
        });
        return;
      case 'broadcast':
        this.queue({ type: ServerMsg.BROADCASTED_EVENT, actor: event.actor, event: event.event });
        return;
      case 'yjs-update': {
        const v2 = this.encodings.get(event.guid ?? ROOT);
        // A client that never fetched this document has no use for its updates.
        if (v2 === undefined) return;
        const update = convertYjsUpdate(event.update, event.v2, v2);
        this.queue({
          type: ServerMsg.UPDATE_YDOC,
          update: Buffer.from(update).toString('base64'),
          isSync: false,
          stateVector: null,
          ...(event.guid !== null ? { guid: event.guid } : {}),
          ...(v2 ? { v2: true } : {}),
          remoteSnapshotHash: this.room!.documents.snapshotHash(event.guid, v2),
        });
        return;
      }
    }
  }

  protected onJoined(others: RoomMember[]): void {
    const users: Record<number, { id: string; info: unknown; scopes: readonly string[] }> = {};
    for (const member of others) {
      users[member.actor] = {
        id: member.user.id,
        info: member.user.info,
        scopes: member.user.scopes,
      };
    }
    this.socket.send(
      JSON.stringify({
        type: ServerMsg.ROOM_STATE,
        actor: this.actor,
        nonce: randomUUID(),
        scopes: this.user.scopes,
        users,
        meta: {},
      }),
    );
    // Everyone's presence as this node knows it; the clients also answer USER_JOINED with theirs.
    for (const member of others) {
      if (Object.keys(member.presence).length === 0) continue;
      this.queue({
        type: ServerMsg.UPDATE_PRESENCE,
        actor: member.actor,
        data: member.presence,
        targetActor: this.actor,
      });
    }
  }

  protected onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) throw new WeftError('INVALID_MESSAGE', 'Send text frames on /v7 and /v8.');

    const text = rawToString(data);
    if (text === 'ping') {
      this.socket.send('pong');
      return;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new WeftError('INVALID_MESSAGE', 'A message is not valid JSON.');
    }
    for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
      if (!isObject(message)) throw new WeftError('INVALID_MESSAGE', 'A message is not an object.');
      this.dispatch(message);
    }
  }

  private dispatch(message: Record<string, unknown>) {
    this.countMessage(MESSAGE_KINDS[message.type as number] ?? 'other');
    switch (message.type) {
      case ClientMsg.UPDATE_PRESENCE:
        return this.onUpdatePresence(message);
      case ClientMsg.BROADCAST_EVENT:
        this.room!.presence.broadcast(this.actor, message.event ?? null);
        return;
      case ClientMsg.FETCH_STORAGE:
        return this.onFetchStorage();
      case ClientMsg.UPDATE_STORAGE:
        return this.onUpdateStorage(message);
      case ClientMsg.FETCH_YDOC:
        return this.onFetchYdoc(message);
      case ClientMsg.UPDATE_YDOC:
        return this.onUpdateYdoc(message);
      default:
        // Newer clients speak features this server lacks (feeds, …): ignore, do not disconnect.
        this.socket.log.debug({ type: message.type }, 'unknown message type ignored');
    }
  }

  private onUpdatePresence(message: Record<string, unknown>) {
    if (!isObject(message.data))
      throw new WeftError('INVALID_MESSAGE', 'Presence must be an object.');
    const target = message.targetActor;
    if (target !== undefined && !Number.isSafeInteger(target)) {
      throw new WeftError('INVALID_MESSAGE', 'targetActor must be an integer.');
    }
    this.room!.presence.updatePresence(this.actor, message.data as Presence, {
      full: target !== undefined,
      ...(target !== undefined ? { targetActor: target as number } : {}),
    });
  }

  /**
   * STORAGE SEAM: the room's Storage answers; until the Storage tree lands it is an empty root,
   * so that `getStorage()` resolves instead of hanging.
   */
  private onFetchStorage() {
    const storage = this.room!.storage;
    if (this.protocolVersion === 7) {
      this.queue({ type: ServerMsg.STORAGE_STATE_V7, items: storage.items() });
      return;
    }
    for (const nodes of storage.compactChunks()) {
      this.queue({ type: ServerMsg.STORAGE_CHUNK, nodes });
    }
    this.queue({ type: ServerMsg.STORAGE_STREAM_END });
  }

  /** STORAGE SEAM: ops are refused until the Storage tree applies them through the log. */
  private onUpdateStorage(message: Record<string, unknown>) {
    const ops = Array.isArray(message.ops) ? message.ops : [];
    const opIds = ops
      .map((op: unknown) => (isObject(op) ? op.opId : undefined))
      .filter((opId): opId is string => typeof opId === 'string');

    let reason: string;
    if (!this.canWrite) {
      this.logRefusedWrite('storage', { ops: ops.length });
      reason = 'Read-only access: storage writes are not allowed.';
    } else {
      if (!this.refusedStorageLogged) {
        this.refusedStorageLogged = true;
        this.socket.log.warn({ ops: ops.length }, 'storage ops refused: storage not available');
      }
      reason = 'Storage is not available on this server yet.';
    }
    if (opIds.length > 0) this.queue({ type: ServerMsg.REJECT_STORAGE_OP, opIds, reason });
  }

  private onFetchYdoc(message: Record<string, unknown>) {
    const guid = optionalGuid(message.guid);
    const v2 = message.v2 === true;
    const vector = message.vector === undefined ? undefined : base64(message.vector, 'vector');
    this.encodings.set(guid ?? ROOT, v2);

    const documents = this.room!.documents;
    let diff: Uint8Array;
    try {
      diff = documents.diff(guid, vector && vector.length > 0 ? vector : undefined, v2);
    } catch {
      throw new WeftError('INVALID_MESSAGE', 'The state vector is not readable.');
    }
    this.queue({
      type: ServerMsg.UPDATE_YDOC,
      update: Buffer.from(diff).toString('base64'),
      isSync: true,
      stateVector: Buffer.from(documents.stateVector(guid)).toString('base64'),
      ...(guid !== null ? { guid } : {}),
      ...(v2 ? { v2: true } : {}),
      remoteSnapshotHash: documents.snapshotHash(guid, v2),
    });
  }

  private onUpdateYdoc(message: Record<string, unknown>) {
    const guid = optionalGuid(message.guid);
    const v2 = message.v2 === true;
    const update = base64(message.update, 'update');
    if (!this.encodings.has(guid ?? ROOT)) this.encodings.set(guid ?? ROOT, v2);

    if (!this.canWrite) {
      this.logRefusedWrite('yjs', { bytes: update.byteLength });
      return;
    }
    if (!isReadableYjsUpdate(update, v2)) {
      throw new WeftError('INVALID_MESSAGE', 'The Yjs update is not readable.');
    }
    this.submitYjsUpdate(guid, update, v2);
  }

  private queue(message: unknown) {
    this.outbox.push(message);
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush() {
    this.flushQueued = false;
    const messages = this.outbox;
    this.outbox = [];
    if (messages.length === 0) return;
    this.socket.send(JSON.stringify(messages.length === 1 ? messages[0] : messages));
  }
}

function rawToString(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalGuid(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value === '' || value.length > 256) {
    throw new WeftError('INVALID_MESSAGE', 'guid must be a non-empty string.');
  }
  return value;
}

function base64(value: unknown, field: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64.test(value)) {
    throw new WeftError('INVALID_MESSAGE', `${field} must be base64.`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}
