import WebSocket from 'ws';
import * as Y from 'yjs';

import { withTimeout } from '../lib/deadline.js';
import {
  socketBase,
  type Protocol,
  type YjsClientOptions,
  type YjsSocketClient,
} from './yjs-socket-client.js';

/** The SDK version the bench claims in the `version` query parameter. */
const CLIENT_VERSION = '3.24.2';

// Message codes of @liveblocks/core 3.24.2 (protocol/ClientMsg.ts and ServerMsg.ts).
const CLIENT_UPDATE_PRESENCE = 100;
const CLIENT_FETCH_YDOC = 300;
const CLIENT_UPDATE_YDOC = 301;
const SERVER_ROOM_STATE = 104;
const SERVER_UPDATE_YDOC = 300;

interface ServerMessage {
  type?: unknown;
  update?: unknown;
  isSync?: unknown;
  guid?: unknown;
}

/**
 * A raw Liveblocks-protocol client for Yjs over `/v8?roomId=&tok=&version=`: it waits for
 * ROOM_STATE, asks for the document with FETCH_YDOC and sends local changes as UPDATE_YDOC with
 * base64 updates, as `@liveblocks/yjs` does, without the SDK's machinery.
 */
export class LiveblocksYjsClient implements YjsSocketClient {
  readonly protocol: Protocol = 'liveblocks';
  readonly doc: Y.Doc;
  synced = false;
  syncArrivedAt = 0;
  syncBytes = 0;
  updatesReceived = 0;
  closeReason: string | undefined;
  private socket: WebSocket | undefined;
  private presenceSent = false;
  private readonly onLocalUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin !== this) this.sendMessage({ type: CLIENT_UPDATE_YDOC, update: toBase64(update) });
  };

  constructor(private readonly options: YjsClientOptions) {
    this.doc = options.doc;
  }

  connect(): Promise<void> {
    const query = new URLSearchParams({
      roomId: this.options.roomId,
      tok: this.options.token,
      version: CLIENT_VERSION,
    });
    const socket = new WebSocket(`${socketBase(this.options.baseUrl)}/v8?${query.toString()}`);
    this.socket = socket;

    const synced = new Promise<void>((resolve, reject) => {
      socket.on('open', () => {
        this.doc.on('update', this.onLocalUpdate);
        if (this.options.relay) this.markSynced(0, resolve);
      });
      socket.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) this.receive(data.toString('utf8'), resolve);
      });
      socket.on('close', (code, reason) => {
        this.closeReason = `closed ${code}${reason.length ? ` ${reason.toString()}` : ''}`;
        this.doc.off('update', this.onLocalUpdate);
        reject(new Error(`socket of ${this.options.roomId} ${this.closeReason}`));
      });
      socket.on('error', (error) => {
        this.closeReason ??= `error ${error.message}`;
        reject(error);
      });
    });
    return withTimeout(synced, this.options.connectTimeoutMs, 'a /v8 client to sync').catch(
      (error: unknown) => {
        this.close();
        throw error;
      },
    );
  }

  setPresence(state: Record<string, unknown>): void {
    // The first presence is a full one (targetActor -1), later ones are patches, as the SDK does.
    const message = this.presenceSent
      ? { type: CLIENT_UPDATE_PRESENCE, data: state }
      : { type: CLIENT_UPDATE_PRESENCE, data: state, targetActor: -1 };
    this.presenceSent = true;
    this.sendMessage(message);
  }

  close(): void {
    this.doc.off('update', this.onLocalUpdate);
    this.socket?.terminate();
  }

  private receive(text: string, onSynced: () => void) {
    if (text === 'pong' || text === 'ping') return;
    const arrivedAt = performance.now();

    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return;
    }
    for (const message of (Array.isArray(parsed) ? parsed : [parsed]) as ServerMessage[]) {
      if (message.type === SERVER_ROOM_STATE && !this.options.relay) {
        this.sendMessage({
          type: CLIENT_FETCH_YDOC,
          vector: toBase64(Y.encodeStateVector(this.doc)),
        });
        continue;
      }
      // On the relay, the other clients' own UPDATE_YDOC messages arrive as they were sent.
      const isUpdate =
        message.type === SERVER_UPDATE_YDOC ||
        (this.options.relay && message.type === CLIENT_UPDATE_YDOC);
      if (!isUpdate || typeof message.update !== 'string') continue;
      if (message.guid !== undefined && message.guid !== null) continue;

      const update = fromBase64(message.update);
      if (message.isSync === true && !this.synced) {
        this.syncArrivedAt = arrivedAt;
        if (this.options.applyRemote !== false) Y.applyUpdate(this.doc, update, this);
        this.markSynced(text.length, onSynced);
        continue;
      }
      this.updatesReceived++;
      if (this.options.applyRemote !== false) Y.applyUpdate(this.doc, update, this);
      this.options.onRemoteUpdate?.(update, arrivedAt);
    }
  }

  private markSynced(bytes: number, onSynced: () => void) {
    this.synced = true;
    this.syncArrivedAt ||= performance.now();
    this.syncBytes = bytes;
    onSynced();
  }

  private sendMessage(message: Record<string, unknown>) {
    // The Liveblocks client always sends an array of messages.
    this.socket?.send(JSON.stringify([message]));
  }
}

function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function fromBase64(text: string): Uint8Array {
  const buffer = Buffer.from(text, 'base64');
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}
