import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import WebSocket from 'ws';
import * as Y from 'yjs';

import { withTimeout } from '../lib/deadline.js';
import {
  socketBase,
  type Protocol,
  type YjsClientOptions,
  type YjsSocketClient,
} from './yjs-socket-client.js';

// y-protocols message types (y-websocket's framing): a varuint type, then the payload.
const MESSAGE_SYNC = 0;
const MESSAGE_AWARENESS = 1;
const SYNC_STEP_1 = 0;
const SYNC_STEP_2 = 1;
const SYNC_UPDATE = 2;

/**
 * A y-websocket client over `/y/{roomId}?token=`: sync step 1/2, updates and awareness, encoded
 * by hand with lib0 so that thousands of them cost little.
 */
export class YwsClient implements YjsSocketClient {
  readonly protocol: Protocol = 'yjs';
  readonly doc: Y.Doc;
  synced = false;
  syncArrivedAt = 0;
  syncBytes = 0;
  updatesReceived = 0;
  closeReason: string | undefined;
  private socket: WebSocket | undefined;
  private awarenessClock = 0;
  private readonly onLocalUpdate = (update: Uint8Array, origin: unknown) => {
    if (origin !== this) this.sendSync(SYNC_UPDATE, update);
  };

  constructor(private readonly options: YjsClientOptions) {
    this.doc = options.doc;
  }

  connect(): Promise<void> {
    const url = `${socketBase(this.options.baseUrl)}/y/${encodeURIComponent(this.options.roomId)}?token=${encodeURIComponent(this.options.token)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.binaryType = 'nodebuffer';

    const synced = new Promise<void>((resolve, reject) => {
      socket.on('open', () => {
        this.doc.on('update', this.onLocalUpdate);
        this.sendSync(SYNC_STEP_1, Y.encodeStateVector(this.doc));
        if (this.options.relay) this.markSynced(0, resolve);
      });
      socket.on('message', (data: Buffer) => this.receive(data, resolve));
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
    return withTimeout(synced, this.options.connectTimeoutMs, 'a /y client to sync').catch(
      (error: unknown) => {
        this.close();
        throw error;
      },
    );
  }

  setPresence(state: Record<string, unknown>): void {
    const inner = encoding.createEncoder();
    encoding.writeVarUint(inner, 1);
    encoding.writeVarUint(inner, this.doc.clientID);
    encoding.writeVarUint(inner, ++this.awarenessClock);
    encoding.writeVarString(inner, JSON.stringify(state));

    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_AWARENESS);
    encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner));
    this.socket?.send(encoding.toUint8Array(encoder));
  }

  close(): void {
    this.doc.off('update', this.onLocalUpdate);
    this.socket?.terminate();
  }

  private receive(data: Buffer, onSynced: () => void) {
    const decoder = decoding.createDecoder(data);
    if (decoding.readVarUint(decoder) !== MESSAGE_SYNC) return;

    const kind = decoding.readVarUint(decoder);
    if (kind === SYNC_STEP_1) {
      // On the relay this is another client's request: answering would flood the room.
      if (this.options.relay) return;
      const stateVector = decoding.readVarUint8Array(decoder);
      this.sendSync(SYNC_STEP_2, Y.encodeStateAsUpdate(this.doc, stateVector));
      return;
    }

    const update = decoding.readVarUint8Array(decoder);
    if (kind === SYNC_STEP_2 && !this.synced) {
      this.syncArrivedAt = performance.now();
      if (this.options.applyRemote !== false) Y.applyUpdate(this.doc, update, this);
      this.markSynced(data.length, onSynced);
      return;
    }
    if (kind !== SYNC_UPDATE && kind !== SYNC_STEP_2) return;

    const arrivedAt = performance.now();
    this.updatesReceived++;
    if (this.options.applyRemote !== false) Y.applyUpdate(this.doc, update, this);
    this.options.onRemoteUpdate?.(update, arrivedAt);
  }

  private markSynced(bytes: number, onSynced: () => void) {
    this.synced = true;
    this.syncArrivedAt ||= performance.now();
    this.syncBytes = bytes;
    onSynced();
  }

  private sendSync(kind: number, payload: Uint8Array) {
    const encoder = encoding.createEncoder();
    encoding.writeVarUint(encoder, MESSAGE_SYNC);
    encoding.writeVarUint(encoder, kind);
    encoding.writeVarUint8Array(encoder, payload);
    this.socket?.send(encoding.toUint8Array(encoder));
  }
}
