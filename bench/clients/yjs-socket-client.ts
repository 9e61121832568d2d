import type * as Y from 'yjs';

/** The socket protocols a Yjs bench client speaks. */
export type Protocol = 'yjs' | 'liveblocks';

/** Options of a lightweight Yjs client. */
export interface YjsClientOptions {
  /** `http://host:port` of the node (or relay). */
  baseUrl: string;
  roomId: string;
  token: string;
  /**
   * The server is the byte relay: nothing answers a sync request, so the client counts as
   * synced once the socket opens, and it ignores sync requests forwarded from other clients.
   */
  relay: boolean;
  doc: Y.Doc;
  /**
   * Apply received updates to `doc`. Joiners of a large document that only time their sync turn
   * this off to keep the load generator cheap. @default true
   */
  applyRemote?: boolean;
  /** Called for each update received after the initial sync, with its arrival time (ms). */
  onRemoteUpdate?: (update: Uint8Array, arrivedAt: number) => void;
  /** Longest wait from connect to synced, in milliseconds. */
  connectTimeoutMs: number;
}

/**
 * A Yjs client cheap enough to run by the thousand in the load generator: a raw `ws` socket and
 * a Y.Doc, no provider, no awareness timers. Local changes to `doc` are sent as they happen.
 */
export interface YjsSocketClient {
  readonly protocol: Protocol;
  readonly doc: Y.Doc;
  /** True once the initial sync answer arrived (or the socket opened, on the relay). */
  readonly synced: boolean;
  /** When the sync answer arrived (`performance.now()`), before it was applied. */
  readonly syncArrivedAt: number;
  /** Bytes of the initial sync answer (the document as the server sent it). */
  readonly syncBytes: number;
  /** Updates received after the sync. */
  readonly updatesReceived: number;
  /** Why the socket closed, when it did. */
  readonly closeReason: string | undefined;
  /** Opens the socket and resolves once synced; rejects on close or timeout. */
  connect(): Promise<void>;
  /** Sets this client's presence (awareness on /y, UPDATE_PRESENCE on /v8). */
  setPresence(state: Record<string, unknown>): void;
  close(): void;
}

/** `ws://…` for an `http://…` base URL. */
export function socketBase(baseUrl: string): string {
  return baseUrl.replace(/^http/, 'ws').replace(/\/$/, '');
}
