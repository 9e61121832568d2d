import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';

import { createClient, type Client, type Room, type Status } from '@liveblocks/client';
import type { Permission } from '@liveblocks/core';
import { Liveblocks } from '@liveblocks/node';
import { LiveblocksYjsProvider, type ProviderOptions } from '@liveblocks/yjs';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import * as syncProtocol from 'y-protocols/sync';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/**
 * Real clients for the realtime integration suites: tokens minted through `@liveblocks/node`,
 * the real `@liveblocks/client`, `@liveblocks/yjs` and `y-websocket` providers, and raw `ws`
 * sockets that record every frame. Each helper tears down what it opened when the test that
 * called it finishes, so it must be called inside a test (not in `beforeAll`).
 */

/** What the helpers need of a node: where it listens and its secret key. */
export interface NodeAddress {
  readonly url: string;
  readonly secret: string;
}

/** Liveblocks socket protocol versions Weft serves. */
export type LiveblocksPath = '/v7' | '/v8';

/** A close as the client saw it. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/** Message codes of the Liveblocks protocol the suites look for (server → client). */
export const SERVER_MSG = {
  UPDATE_PRESENCE: 100,
  USER_JOINED: 101,
  USER_LEFT: 102,
  BROADCASTED_EVENT: 103,
  ROOM_STATE: 104,
  UPDATE_YDOC: 300,
} as const;

/** Message codes of the Liveblocks protocol a raw socket sends (client → server). */
export const CLIENT_MSG = {
  UPDATE_PRESENCE: 100,
  BROADCAST_EVENT: 103,
  FETCH_YDOC: 300,
  UPDATE_YDOC: 301,
} as const;

/** One JSON message of the Liveblocks protocol. */
export type LiveblocksMessage = { type: number } & Record<string, unknown>;

/** How long helpers wait for a connection or a sync before failing, in milliseconds. */
const CONNECT_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------- tokens and REST

/** The `@liveblocks/node` REST client of a node. */
export function restClient(node: NodeAddress): Liveblocks {
  return new Liveblocks({ secret: node.secret, baseUrl: node.url });
}

/** Options of {@link mintIdToken}. */
export interface IdTokenOptions {
  organizationId?: string;
  groupIds?: string[];
  userInfo?: Record<string, string>;
}

/** Mints an ID token through `identifyUser` of the real SDK. */
export async function mintIdToken(
  node: NodeAddress,
  userId: string,
  options: IdTokenOptions = {},
): Promise<string> {
  const identity = {
    userId,
    groupIds: options.groupIds ?? [],
    ...(options.organizationId !== undefined ? { organizationId: options.organizationId } : {}),
  };
  const response = await restClient(node).identifyUser(identity, { userInfo: options.userInfo });
  return tokenOf(response, 'identifyUser');
}

/** Options of {@link mintAccessToken}. */
export interface AccessTokenOptions {
  organizationId?: string;
  /** Pattern → permissions. @default `{ '*': ['*:write'] }` */
  allow?: Record<string, readonly Permission[]>;
  userInfo?: Record<string, string>;
}

/** Mints an access token through `prepareSession(…).allow(…).authorize()` of the real SDK. */
export async function mintAccessToken(
  node: NodeAddress,
  userId: string,
  options: AccessTokenOptions = {},
): Promise<string> {
  const session = restClient(node).prepareSession(userId, {
    userInfo: options.userInfo,
    ...(options.organizationId !== undefined ? { organizationId: options.organizationId } : {}),
  });
  for (const [pattern, permissions] of Object.entries(options.allow ?? { '*': ['*:write'] })) {
    session.allow(pattern, permissions);
  }
  return tokenOf(await session.authorize(), 'authorize');
}

/** The room's Yjs document (or sub-document) as `GET /v2/rooms/{id}/ydoc-binary` returns it. */
export async function fetchRoomDoc(
  node: NodeAddress,
  roomId: string,
  guid?: string,
): Promise<Y.Doc> {
  const bytes = await restClient(node).getYjsDocumentAsBinaryUpdate(
    roomId,
    guid === undefined ? {} : { guid },
  );
  const doc = new Y.Doc();
  Y.applyUpdate(doc, new Uint8Array(bytes));
  return doc;
}

/** The decoded (unverified) payload of a JWT. */
export function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

// ---------------------------------------------------------------- raw sockets

/** The `/v7` or `/v8` URL the Liveblocks client would open. */
export function liveblocksSocketUrl(
  node: NodeAddress,
  path: LiveblocksPath,
  roomId: string,
  token?: string,
): string {
  const query = new URLSearchParams({ roomId });
  if (token !== undefined) query.set('tok', token);
  query.set('version', path === '/v8' ? '3.24.2' : '3.13.0');
  return `${wsBase(node)}${path}?${query.toString()}`;
}

/** The `/y/{roomId}` URL a y-websocket provider would open. */
export function yjsSocketUrl(node: NodeAddress, roomId: string, token?: string): string {
  const query = token === undefined ? '' : `?${new URLSearchParams({ token }).toString()}`;
  return `${wsBase(node)}/y/${encodeURIComponent(roomId)}${query}`;
}

/** A frame a raw socket received. */
export interface Frame {
  readonly data: string | Uint8Array;
  readonly binary: boolean;
}

/** A plain `ws` socket that records everything it receives. */
export interface RawSocket {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  /** Set once the socket closed. */
  readonly closeInfo: CloseInfo | undefined;
  /** Set when the server answered the upgrade with an HTTP status instead of a socket. */
  readonly refusedWithStatus: number | undefined;
  /** The Liveblocks JSON messages received so far, arrays flattened, "pong" left out. */
  messages(): LiveblocksMessage[];
  /** Sends Liveblocks messages as one array frame, as the real client does. */
  sendMessages(...messages: object[]): void;
  /** Resolves when the socket is open; rejects if it closes first. */
  opened(timeoutMs?: number): Promise<void>;
  /** Waits for the close and returns its code and reason. */
  closed(timeoutMs?: number): Promise<CloseInfo>;
  /** Waits until at least `count` frames arrived; rejects if the socket closes first. */
  waitForFrames(count: number, timeoutMs?: number): Promise<Frame[]>;
  /** Waits for a Liveblocks message matching the predicate; rejects if the socket closes first. */
  waitForMessage(
    predicate: (message: LiveblocksMessage) => boolean,
    timeoutMs?: number,
  ): Promise<LiveblocksMessage>;
}

/** Opens a raw socket, closed (terminated) when the test finishes. */
export function openRawSocket(url: string, options: WebSocket.ClientOptions = {}): RawSocket {
  const ws = new WebSocket(url, options);
  const frames: Frame[] = [];
  const messages: LiveblocksMessage[] = [];
  const waiters = new Set<() => void>();
  let closeInfo: CloseInfo | undefined;
  let refusedWithStatus: number | undefined;
  const wake = () => {
    for (const waiter of [...waiters]) waiter();
  };

  ws.binaryType = 'nodebuffer';
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const frame = {
      data: isBinary ? new Uint8Array(data) : data.toString('utf8'),
      binary: isBinary,
    };
    frames.push(frame);
    messages.push(...parseLiveblocksFrame(frame));
    wake();
  });
  ws.on('open', wake);
  ws.on('unexpected-response', (_request, response) => {
    refusedWithStatus = response.statusCode;
    response.resume();
    ws.terminate();
  });
  ws.on('error', () => {
    // The close event that follows carries what the tests assert on.
  });
  ws.on('close', (code: number, reason: Buffer) => {
    closeInfo = { code, reason: reason.toString('utf8') };
    wake();
  });
  onTestFinished(() => ws.terminate());

  /** Resolves with `check()` once it returns something, re-checking on every socket event. */
  const until = <T>(what: string, check: () => T | undefined, timeoutMs: number) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${describe(socket)}`),
        );
      }, timeoutMs);
      const waiter = () => {
        let result: T | undefined;
        try {
          result = check();
        } catch (error) {
          clearTimeout(timer);
          waiters.delete(waiter);
          reject(error as Error);
          return;
        }
        if (result === undefined) return;
        clearTimeout(timer);
        waiters.delete(waiter);
        resolve(result);
      };
      waiters.add(waiter);
      waiter();
    });

  const socket: RawSocket = {
    ws,
    frames,
    get closeInfo() {
      return closeInfo;
    },
    get refusedWithStatus() {
      return refusedWithStatus;
    },
    messages: () => messages,
    sendMessages: (...outgoing) => ws.send(JSON.stringify(outgoing)),
    async opened(timeoutMs = CONNECT_TIMEOUT_MS) {
      await until(
        'the socket to open',
        () => {
          if (ws.readyState === WebSocket.OPEN) return true;
          if (closeInfo) throw new Error(`socket closed before opening: ${describe(socket)}`);
          return undefined;
        },
        timeoutMs,
      );
    },
    closed: (timeoutMs = CONNECT_TIMEOUT_MS) => until('the close', () => closeInfo, timeoutMs),
    waitForMessage: (predicate, timeoutMs = CONNECT_TIMEOUT_MS) =>
      until(
        'a matching message',
        () => {
          const found = messages.find(predicate);
          if (found) return found;
          if (closeInfo) throw new Error(`socket closed first: ${describe(socket)}`);
          return undefined;
        },
        timeoutMs,
      ),
    waitForFrames: (count, timeoutMs = CONNECT_TIMEOUT_MS) =>
      until(
        `${count} frame(s)`,
        () => {
          if (frames.length >= count) return frames;
          if (closeInfo) throw new Error(`socket closed first: ${describe(socket)}`);
          return undefined;
        },
        timeoutMs,
      ),
  };
  return socket;
}

/** A short description of what a raw socket saw, for failure messages. */
export function describe(socket: RawSocket): string {
  const received = socket.frames.map((frame) =>
    frame.binary
      ? `<binary ${describeYFrame(frame.data as Uint8Array)}>`
      : String(frame.data).slice(0, 200),
  );
  const end = socket.refusedWithStatus
    ? `refused the upgrade with HTTP ${socket.refusedWithStatus}`
    : socket.closeInfo
      ? `closed ${socket.closeInfo.code} "${socket.closeInfo.reason}"`
      : 'open';
  return `${end}; received ${received.length} frame(s): ${received.join(' | ').slice(0, 600)}`;
}

/** Parses a text frame of the Liveblocks protocol into messages. */
export function parseLiveblocksFrame(frame: Frame): LiveblocksMessage[] {
  if (frame.binary || frame.data === 'pong') return [];

  try {
    const parsed = JSON.parse(frame.data as string) as LiveblocksMessage | LiveblocksMessage[];
    return Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    return [{ type: -1, text: frame.data }];
  }
}

/** The kind of a y-protocols frame: `sync-step1`, `sync-step2`, `sync-update`, `awareness`, … */
export function describeYFrame(bytes: Uint8Array): string {
  try {
    const decoder = decoding.createDecoder(bytes);
    const type = decoding.readVarUint(decoder);
    if (type === 0) {
      const step = decoding.readVarUint(decoder);
      return ['sync-step1', 'sync-step2', 'sync-update'][step] ?? `sync-${step}`;
    }
    return ['sync', 'awareness', 'auth', 'query-awareness'][type] ?? `type-${type}`;
  } catch {
    return 'undecodable';
  }
}

/** The Yjs update carried by a y-protocols `sync-step2` or `sync-update` frame. */
export function yFrameUpdate(bytes: Uint8Array): Uint8Array | undefined {
  const decoder = decoding.createDecoder(bytes);
  if (decoding.readVarUint(decoder) !== 0) return undefined;

  const step = decoding.readVarUint(decoder);
  return step === 1 || step === 2 ? decoding.readVarUint8Array(decoder) : undefined;
}

/** A y-protocols `sync-step1` frame announcing the document's state vector. */
export function ySyncStep1Frame(doc: Y.Doc): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  syncProtocol.writeSyncStep1(encoder, doc);
  return encoding.toUint8Array(encoder);
}

/** A y-protocols `sync-update` frame carrying a Yjs update. */
export function yUpdateFrame(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  syncProtocol.writeUpdate(encoder, update);
  return encoding.toUint8Array(encoder);
}

/**
 * Records the TCP socket of every upgrade the node's HTTP server receives, so that a test can
 * drop connections the way a network failure does. Listening to `upgrade` on the node's own
 * server adds an observer; the gateway's handler still runs.
 */
export function recordUpgrades(server: {
  on(event: 'upgrade', listener: (request: unknown, socket: Socket) => void): unknown;
  off(event: 'upgrade', listener: (request: unknown, socket: Socket) => void): unknown;
}): { sockets: Socket[]; dropAll(): void } {
  const sockets: Socket[] = [];
  const listener = (_request: unknown, socket: Socket) => sockets.push(socket);
  server.on('upgrade', listener);
  onTestFinished(() => {
    server.off('upgrade', listener);
  });
  return {
    sockets,
    dropAll: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

// ---------------------------------------------------------------- @liveblocks/client

/** Options of {@link enterRoom}. */
export interface EnterRoomOptions {
  /** Called on every authentication; returns a fresh token. */
  token: () => Promise<string>;
  initialPresence?: Record<string, unknown>;
  /** Wait until the room is connected and knows its own user. @default true */
  waitForConnected?: boolean;
}

/** A real `@liveblocks/client` in one room, with what it went through. */
export interface ClientSession {
  readonly client: Client;
  readonly room: Room;
  /** How many times the client called its auth endpoint. */
  readonly authCalls: () => number;
  /** Every status the room went through, in order. */
  readonly statuses: Status[];
  /** URLs of every socket the client opened. */
  readonly socketUrls: string[];
  /** Every close its sockets saw. */
  readonly closes: CloseInfo[];
  /** Waits for the given room status. */
  waitForStatus(status: Status, timeoutMs?: number): Promise<void>;
}

/** Enters a room with the real client (over `ws`) and, by default, waits for "connected". */
export async function enterRoom(
  node: NodeAddress,
  roomId: string,
  options: EnterRoomOptions,
): Promise<ClientSession> {
  let authCalls = 0;
  const statuses: Status[] = [];
  const socketUrls: string[] = [];
  const closes: CloseInfo[] = [];

  class RecordingWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      socketUrls.push(address);
      this.on('close', (code: number, reason: Buffer) => {
        closes.push({ code, reason: reason.toString('utf8') });
      });
    }
  }

  const client = createClient({
    baseUrl: node.url,
    authEndpoint: async () => {
      authCalls++;
      return { token: await options.token() };
    },
    polyfills: { WebSocket: RecordingWebSocket as never },
    // Tests run faster than a human: report a lost connection quickly.
    lostConnectionTimeout: 1_000,
  });
  const { room, leave } = client.enterRoom(roomId, {
    initialPresence: options.initialPresence ?? {},
  } as never) as { room: Room; leave: () => void };
  statuses.push(room.getStatus());
  const unsubscribe = room.subscribe('status', (status) => statuses.push(status));
  onTestFinished(() => {
    unsubscribe();
    leave();
  });

  const session: ClientSession = {
    client,
    room,
    authCalls: () => authCalls,
    statuses,
    socketUrls,
    closes,
    async waitForStatus(status, timeoutMs = CONNECT_TIMEOUT_MS) {
      await vi.waitFor(
        () => {
          const now = room.getStatus();
          if (now !== status) {
            throw new Error(
              `room "${roomId}" is ${now}, not ${status}; closes: ${JSON.stringify(closes)}`,
            );
          }
        },
        { timeout: timeoutMs, interval: 10 },
      );
    },
  };
  if (options.waitForConnected ?? true) {
    await session.waitForStatus('connected');
    // The client reports "connected" on ROOM_STATE but applies it a tick later.
    await vi.waitFor(
      () => {
        if (room.getSelf() === null) throw new Error(`room "${roomId}" has no self yet`);
      },
      { timeout: CONNECT_TIMEOUT_MS, interval: 5 },
    );
  }
  return session;
}

// ---------------------------------------------------------------- Yjs providers

/** A `@liveblocks/yjs` provider on a connected client. */
export interface YjsSession extends ClientSession {
  readonly doc: Y.Doc;
  readonly provider: LiveblocksYjsProvider;
  /** Waits until the provider's snapshot hash matches the server's ("synchronized"). */
  waitForSynchronized(timeoutMs?: number): Promise<void>;
}

/** Enters a room and attaches a `LiveblocksYjsProvider`, waiting for "synced". */
export async function openLiveblocksYjs(
  node: NodeAddress,
  roomId: string,
  options: EnterRoomOptions & { provider?: ProviderOptions; doc?: Y.Doc },
): Promise<YjsSession> {
  const session = await enterRoom(node, roomId, options);
  const doc = options.doc ?? new Y.Doc();
  const v2 = options.provider?.useV2Encoding_experimental ?? false;
  let remoteRootHash: string | undefined;
  const unsubscribe = session.room.events.ydoc.subscribe((message) => {
    if (message.type === SERVER_MSG.UPDATE_YDOC && message.guid === undefined) {
      remoteRootHash = message.remoteSnapshotHash;
    }
  });
  const provider = new LiveblocksYjsProvider(session.room, doc, options.provider);
  onTestFinished(() => {
    unsubscribe();
    provider.destroy();
  });

  await vi.waitFor(
    () => {
      if (!provider.synced) throw new Error(`provider of "${roomId}" not synced`);
    },
    { timeout: CONNECT_TIMEOUT_MS, interval: 10 },
  );
  return {
    ...session,
    doc,
    provider,
    async waitForSynchronized(timeoutMs = CONNECT_TIMEOUT_MS) {
      // The provider compares snapshot hashes only after a 200 ms debounce, so right after a
      // local change it still reports the old "synchronized"; compare the hashes here too.
      await vi.waitFor(
        () => {
          const local = snapshotHash(doc, v2);
          const status = provider.getStatus();
          if (local !== remoteRootHash || status !== 'synchronized') {
            throw new Error(
              `provider is ${status}; local hash ${local}, server's ${remoteRootHash ?? 'none'}`,
            );
          }
        },
        { timeout: timeoutMs, interval: 10 },
      );
    },
  };
}

/** The snapshot hash `@liveblocks/yjs` compares with the server's: SHA-256 of the snapshot. */
export function snapshotHash(doc: Y.Doc, v2 = false): string {
  const snapshot = Y.snapshot(doc);
  const encoded = v2 ? Y.encodeSnapshotV2(snapshot) : Y.encodeSnapshot(snapshot);
  return createHash('sha256').update(encoded).digest('base64');
}

/** A stock `y-websocket` provider. */
export interface YWebsocketSession {
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;
  /** Every close the provider's sockets saw. */
  readonly closes: CloseInfo[];
}

/** Connects a `y-websocket` provider to `/y/{roomId}` and waits for "synced". */
export async function openYWebsocket(
  node: NodeAddress,
  roomId: string,
  token: string,
  doc: Y.Doc = new Y.Doc(),
): Promise<YWebsocketSession> {
  const closes: CloseInfo[] = [];
  const provider = new WebsocketProvider(`${wsBase(node)}/y`, roomId, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as never,
    // Node 20's global BroadcastChannel would sync providers of one process without the server.
    disableBc: true,
  });
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: event.reason });
  });
  onTestFinished(() => provider.destroy());

  await vi.waitFor(
    () => {
      if (!provider.synced) {
        throw new Error(`y-websocket of "${roomId}" not synced; closes: ${JSON.stringify(closes)}`);
      }
    },
    { timeout: CONNECT_TIMEOUT_MS, interval: 10 },
  );
  return { doc, provider, closes };
}

/** Base64 of bytes, as the Liveblocks protocol carries Yjs updates and state vectors. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
}

/** The state vector of an empty document, base64: what a fresh client sends in FETCH_YDOC. */
export const EMPTY_STATE_VECTOR = Buffer.from(Y.encodeStateVector(new Y.Doc())).toString('base64');

/** Bytes of base64. */
export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function tokenOf(response: { status: number; body: string }, call: string): string {
  if (response.status !== 200) {
    throw new Error(`${call} answered ${response.status}: ${response.body}`);
  }
  return (JSON.parse(response.body) as { token: string }).token;
}

function wsBase(node: NodeAddress): string {
  return node.url.replace(/^http/, 'ws');
}
