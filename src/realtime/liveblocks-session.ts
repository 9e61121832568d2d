import { randomUUID } from 'node:crypto';

import type { RawData } from 'ws';

import { WeftError, isWeftError } from '../errors.js';
import type { Presence, RoomEvent, RoomMember } from '../rooms/room-peer.js';
import { checkStorageOps, refuseStorageOps } from '../rooms/tree-room-storage.js';
import {
  convertYjsUpdate,
  isEmptyStateVector,
  isReadableYjsUpdate,
} from '../rooms/yjs-documents.js';
import { ClientSession, type SessionDeps } from './client-session.js';
import type { ClientSocket } from './client-socket.js';
import { sharedFrame } from './event-frames.js';
import type { JoinRequest } from './join-authorization.js';
import { ClientMsg, ServerMsg } from './liveblocks-codes.js';
import { storageChunkFrames } from './storage-chunks.js';

/** Key of the root document in the per-guid encoding map. */
const ROOT = '';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The reason a read-only connection's Storage ops are refused with. */
const READ_ONLY_REASON = 'Read-only access: storage writes are not allowed.';

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
 * Where a connection is with Storage: never fetched it (others' ops are of no use to it),
 * receiving the tree (Storage messages are held until the stream ends), or holding it.
 */
type StorageState = 'none' | 'streaming' | 'loaded';

/** An UPDATE_STORAGE or REJECT_STORAGE_OP message. */
type StorageMessage = { readonly type: number } & Record<string, unknown>;

/**
 * A connection speaking the JSON protocol of `@liveblocks/client` (`/v7`, `/v8`): text frames
 * holding one message or an array of them, the text "ping" answered with "pong". Outgoing
 * messages of one turn leave in one frame; ROOM_STATE always travels alone, as the client
 * recognises it only as a frame of its own, and so does REJECT_STORAGE_OP, on which a
 * development build of the client throws, dropping the rest of its frame.
 */
export class LiveblocksSession extends ClientSession {
  protected readonly protocol = 'liveblocks';
  /** Messages of this turn, each already serialized as JSON (as UTF-8 bytes when shared). */
  private outbox: (string | Buffer)[] = [];
  private flushQueued = false;
  /** Documents this client fetched, with the encoding it uses for each (true = v2). */
  private readonly encodings = new Map<string, boolean>();
  private storageState: StorageState = 'none';
  /** Storage messages that came while the tree was streaming, sent after it. */
  private heldStorage: StorageMessage[] = [];
  /** A FETCH_STORAGE came while a stream ran: one more stream follows it. */
  private storageRefetch = false;
  /** A FETCH_STORAGE waits for this connection's Storage writes to be applied. */
  private storageFetchScheduled = false;
  /** Log seq of this connection's latest Storage write (0 before any, or when it failed). */
  private storageWritten: Promise<number> = Promise.resolve(0);
  /** Resumes a stream waiting for its socket to drain, when the socket closes instead. */
  private wakeStream: (() => void) | undefined;

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
        const documents = this.room!.documents;
        // The same message for every client using this encoding: serialized and encoded once.
        this.queueJson(
          sharedFrame(event, v2 ? 'v8:2' : 'v8:1', () =>
            jsonBytes({
              type: ServerMsg.UPDATE_YDOC,
              update: Buffer.from(convertYjsUpdate(event.update, event.v2, v2)).toString('base64'),
              isSync: false,
              stateVector: null,
              ...(event.guid !== null ? { guid: event.guid } : {}),
              ...(v2 ? { v2: true } : {}),
              remoteSnapshotHash: documents.snapshotHash(event.guid, v2),
            }),
          ),
        );
        return;
      }
      case 'storage-update':
        if (event.origin === this.actor) {
          // The writer's acknowledgements and fixes, in the order the tree gave them: the
          // client applies the ops of one UPDATE_STORAGE one after another, ops with one of
          // its opIds as acknowledgements and the others as remote ops.
          if (event.toSender.length > 0) {
            this.sendStorage({ type: ServerMsg.UPDATE_STORAGE, ops: event.toSender });
          }
          if (event.rejected) {
            this.sendStorage({ type: ServerMsg.REJECT_STORAGE_OP, ...event.rejected });
          }
        } else if (event.toOthers.length > 0 && this.storageState !== 'none') {
          this.sendStorage({ type: ServerMsg.UPDATE_STORAGE, ops: event.toOthers });
        }
        return;
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

  protected override onClosed(): void {
    this.heldStorage = [];
    this.wakeStream?.();
  }

  /**
   * Answers FETCH_STORAGE once the Storage ops this connection sent so far, those of the same
   * frame included, are applied. A reconnecting client sends the ops it could not send before
   * along with its fetch; applied first, their acknowledgements reach it before the tree, so
   * it does not send them a second time after loading it (which the tree would have to undo).
   */
  private onFetchStorage() {
    if (this.storageFetchScheduled) return;
    this.storageFetchScheduled = true;

    // After the current frame: its later messages may be Storage ops.
    queueMicrotask(() => {
      void this.storageWritten
        .then((seq) => this.room!.waitApplied(seq))
        .then(() => {
          this.storageFetchScheduled = false;
          if (!this.socket.isClosed) this.sendStorageTree();
        });
    });
  }

  /**
   * Sends the tree as it is now: on v7 in one STORAGE_STATE_V7, on v8 as a stream of bounded
   * STORAGE_CHUNK frames ended by STORAGE_STREAM_END. Ops applied after this moment reach the
   * connection after the tree, never before it: a client rebuilding its tree from a stream
   * would undo them.
   */
  private sendStorageTree() {
    if (this.protocolVersion === 7) {
      this.queue({ type: ServerMsg.STORAGE_STATE_V7, items: this.room!.storage.items() });
      if (this.storageState === 'none') this.storageState = 'loaded';
      return;
    }
    if (this.storageState === 'streaming') {
      this.storageRefetch = true;
      return;
    }
    this.storageState = 'streaming';
    this.streamStorage().catch((error: unknown) => {
      this.socket.log.error({ err: error }, 'storage stream failed');
      this.close(new WeftError('INTERNAL_ERROR'));
    });
  }

  private async streamStorage() {
    do {
      this.storageRefetch = false;
      // Held messages are of entries the tree taken next contains: they may go first.
      this.releaseHeldStorage();
      this.flush();

      const started = performance.now();
      let frames = 0;
      for (const frame of storageChunkFrames(this.room!.storage.compactNodes())) {
        if (!(await this.sendChunk(frame))) return;
        frames += 1;
      }
      this.queue({ type: ServerMsg.STORAGE_STREAM_END });
      this.socket.log.debug(
        { frames, ms: Math.round(performance.now() - started) },
        'storage streamed',
      );
    } while (this.storageRefetch);

    this.storageState = 'loaded';
    this.releaseHeldStorage();
  }

  /**
   * Sends one chunk; resolves false when the socket is gone. Waits for the socket to take the
   * frame when it is not drained, so that a large tree never piles up in memory (nor trips the
   * slow-consumer limit) and every other socket of the node gets its turn between chunks.
   */
  private sendChunk(frame: string): Promise<boolean> {
    return new Promise((resolve) => {
      let settled = false;
      const done = () => {
        if (settled) return;
        settled = true;
        if (this.wakeStream === done) this.wakeStream = undefined;
        resolve(!this.socket.isClosed);
      };
      if (!this.socket.send(frame, done)) {
        resolve(false);
        return;
      }
      this.wakeStream = done;
      if (this.socket.ws.bufferedAmount === 0) setImmediate(done);
    });
  }

  /** Sends a Storage message, or holds it while the tree streams. */
  private sendStorage(message: StorageMessage) {
    if (this.storageState === 'streaming') {
      this.heldStorage.push(message);
      return;
    }
    this.deliverStorage(message);
  }

  private deliverStorage(message: StorageMessage) {
    if (message.type === ServerMsg.REJECT_STORAGE_OP) {
      this.flush();
      this.socket.send(JSON.stringify(message));
      return;
    }
    this.queue(message);
  }

  private releaseHeldStorage() {
    const held = this.heldStorage;
    this.heldStorage = [];
    for (const message of held) this.deliverStorage(message);
  }

  /**
   * Storage ops enter the room log and are answered when it delivers them. A read-only
   * connection's are refused here and never reach the log.
   */
  private onUpdateStorage(message: Record<string, unknown>) {
    const ops = message.ops;
    if (!this.canWrite) {
      this.logRefusedWrite('storage', { ops: Array.isArray(ops) ? ops.length : 0 });
      const rejection = refuseStorageOps(ops, READ_ONLY_REASON);
      if (rejection) this.sendStorage({ type: ServerMsg.REJECT_STORAGE_OP, ...rejection });
      return;
    }
    const problem = checkStorageOps(ops);
    if (problem !== null) {
      throw new WeftError('INVALID_MESSAGE', `Invalid storage ops: ${problem}`);
    }
    if ((ops as unknown[]).length === 0) return;

    const written = this.room!.submitStorageOps(this.actor, ops as unknown[]);
    this.storageWritten = written.catch(() => 0);
    written.catch((error: unknown) => {
      this.socket.log.warn({ err: error }, 'write not acknowledged by the room log');
      this.close(isWeftError(error) ? error : new WeftError('WRITE_STALLED'));
    });
  }

  private onFetchYdoc(message: Record<string, unknown>) {
    const guid = optionalGuid(message.guid);
    const v2 = message.v2 === true;
    const vector = message.vector === undefined ? undefined : base64(message.vector, 'vector');
    this.encodings.set(guid ?? ROOT, v2);

    const documents = this.room!.documents;
    // A fresh client sends no vector, or an empty document's: both ask for the whole document.
    const from = vector && vector.length > 0 && !isEmptyStateVector(vector) ? vector : undefined;
    const build = () => {
      let diff: Uint8Array;
      try {
        diff = documents.diff(guid, from, v2);
      } catch {
        throw new WeftError('INVALID_MESSAGE', 'The state vector is not readable.');
      }
      return JSON.stringify({
        type: ServerMsg.UPDATE_YDOC,
        update: Buffer.from(diff).toString('base64'),
        isSync: true,
        stateVector: Buffer.from(documents.stateVector(guid)).toString('base64'),
        ...(guid !== null ? { guid } : {}),
        ...(v2 ? { v2: true } : {}),
        remoteSnapshotHash: documents.snapshotHash(guid, v2),
      });
    };
    // A joining client fetches the whole document: its message is built once per change.
    this.queueJson(
      from
        ? build()
        : documents.cached(guid, v2 ? 'v8-sync:2' : 'v8-sync:1', () => Buffer.from(build())),
    );
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
    this.queueJson(JSON.stringify(message));
  }

  /** Queues a message already serialized as JSON. */
  private queueJson(message: string | Buffer) {
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
    this.socket.send(messages.length === 1 ? messages[0]! : jsonArray(messages), undefined, {
      text: true,
    });
  }
}

/** A message serialized once, as the UTF-8 bytes every socket sends. */
function jsonBytes(message: unknown): Buffer {
  return Buffer.from(JSON.stringify(message));
}

/** What JSON.stringify of the array would give, without serializing the messages again. */
function jsonArray(messages: readonly (string | Buffer)[]): string | Buffer {
  if (messages.every((message) => typeof message === 'string')) return `[${messages.join(',')}]`;
  const parts: Buffer[] = [Buffer.from('[')];
  messages.forEach((message, i) => {
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(typeof message === 'string' ? Buffer.from(message) : message);
  });
  parts.push(Buffer.from(']'));
  return Buffer.concat(parts);
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
