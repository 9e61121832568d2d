import { createClient, type Room } from '@liveblocks/client';
import { Liveblocks } from '@liveblocks/node';
import { LiveblocksYjsProvider } from '@liveblocks/yjs';
import { onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

/**
 * Small helpers of the realtime tests: rooms and tokens through the real `@liveblocks/node`,
 * the real `@liveblocks/client` / `@liveblocks/yjs` / `y-websocket` clients, and raw sockets.
 * Everything opened inside a test is closed when that test finishes.
 */

/** Where a node listens and its secret key. */
export interface NodeAddress {
  readonly url: string;
  readonly secret: string;
}

/** The REST SDK of a node. */
export function sdk(node: NodeAddress): Liveblocks {
  return new Liveblocks({ secret: node.secret, baseUrl: node.url });
}

let counter = 0;

/** A fresh room id, with characters that need URL encoding. */
export function uniqueRoomId(prefix = 'room'): string {
  counter += 1;
  return `${prefix}/${counter}:${Date.now()} é`;
}

/** Creates a room through REST; everyone may write unless accesses are given. */
export async function createRoom(
  node: NodeAddress,
  roomId: string,
  options: { organizationId?: string; defaultAccesses?: string[] } = {},
): Promise<void> {
  await sdk(node).createRoom(roomId, {
    defaultAccesses: (options.defaultAccesses ?? ['room:write']) as never,
    ...(options.organizationId ? { organizationId: options.organizationId } : {}),
  });
}

/** Mints an ID token through `identifyUser`. */
export async function idToken(
  node: NodeAddress,
  userId: string,
  options: { organizationId?: string; userInfo?: Record<string, string> } = {},
): Promise<string> {
  const response = await sdk(node).identifyUser(
    {
      userId,
      groupIds: [],
      ...(options.organizationId ? { organizationId: options.organizationId } : {}),
    },
    { userInfo: options.userInfo ?? { name: userId } },
  );
  if (response.status !== 200) throw new Error(`identifyUser: ${response.status} ${response.body}`);
  return (JSON.parse(response.body) as { token: string }).token;
}

/** A real `@liveblocks/client` room, entered with a fresh ID token per authentication. */
export function enter(
  node: NodeAddress,
  roomId: string,
  userId: string,
  options: { initialPresence?: Record<string, unknown>; token?: () => Promise<string> } = {},
): { room: Room; authCalls: () => number } {
  let authCalls = 0;
  const client = createClient({
    baseUrl: node.url,
    authEndpoint: async () => {
      authCalls += 1;
      return { token: await (options.token ?? (() => idToken(node, userId)))() };
    },
    polyfills: { WebSocket: WebSocket as never },
  });
  const { room, leave } = client.enterRoom(roomId, {
    initialPresence: options.initialPresence ?? {},
  } as never) as unknown as { room: Room; leave: () => void };
  onTestFinished(() => leave());
  return { room, authCalls: () => authCalls };
}

/** Waits for a client room to reach a status. */
export async function waitForStatus(room: Room, status: string, timeout = 10_000): Promise<void> {
  await vi.waitFor(
    () => {
      if (room.getStatus() !== status) throw new Error(`room is ${room.getStatus()}`);
    },
    { timeout, interval: 10 },
  );
}

/** A `LiveblocksYjsProvider` on a room, destroyed with the test. */
export function yjsProvider(
  room: Room,
  doc = new Y.Doc(),
  options: { useV2Encoding_experimental?: boolean } = {},
): LiveblocksYjsProvider {
  const provider = new LiveblocksYjsProvider(room, doc, options);
  onTestFinished(() => provider.destroy());
  return provider;
}

/** A stock y-websocket provider on `/y/{roomId}`, destroyed with the test. */
export function yWebsocket(
  node: NodeAddress,
  roomId: string,
  token: string,
  doc = new Y.Doc(),
): WebsocketProvider {
  const provider = new WebsocketProvider(
    `${node.url.replace(/^http/, 'ws')}/y`,
    encodeURIComponent(roomId),
    doc,
    {
      params: { token },
      WebSocketPolyfill: WebSocket as never,
      // Node 20's BroadcastChannel would sync providers of one process without the server.
      disableBc: true,
    },
  );
  onTestFinished(() => provider.destroy());
  return provider;
}

/** The `/v8` (or `/v7`) URL the Liveblocks client opens. */
export function socketUrl(node: NodeAddress, roomId: string, token: string, path = '/v8'): string {
  const query = new URLSearchParams({ roomId, tok: token, version: '3.24.2' });
  return `${node.url.replace(/^http/, 'ws')}${path}?${query.toString()}`;
}

/** A raw `ws` socket that records its text messages and its close. */
export interface RawSocket {
  readonly ws: WebSocket;
  /** Liveblocks messages received, arrays flattened. */
  readonly messages: Array<{ type: number } & Record<string, unknown>>;
  readonly close: { code?: number; reason?: string };
  send(...messages: object[]): void;
}

/** Opens a raw socket, terminated with the test. */
export function rawSocket(url: string): RawSocket {
  const ws = new WebSocket(url);
  const socket: RawSocket = {
    ws,
    messages: [],
    close: {},
    send: (...messages) => ws.send(JSON.stringify(messages)),
  };
  ws.on('message', (data: Buffer, isBinary) => {
    if (isBinary || data.toString() === 'pong') return;
    const parsed = JSON.parse(data.toString()) as RawSocket['messages'] | RawSocket['messages'][0];
    socket.messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  });
  ws.on('close', (code, reason) =>
    Object.assign(socket.close, { code, reason: reason.toString() }),
  );
  ws.on('error', () => {});
  onTestFinished(() => ws.terminate());
  return socket;
}
