import {
  createClient,
  type Client,
  type LiveObject,
  type LsonObject,
  type Room,
} from '@liveblocks/client';
import { onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';

import { idToken, sdk, type NodeAddress } from './live-session.js';

/**
 * Real `@liveblocks/client` rooms for the Storage suites: entered with a Storage root, their
 * sockets at hand so that a test can cut them as a network would, and the server's view of the
 * Storage through the REST API of `@liveblocks/node`.
 */

/** A room with Storage of any shape. */
export type StorageRoom = Room<never, LsonObject, never, never, never>;

/** A real client in one room. */
export interface StorageClient {
  readonly client: Client;
  readonly room: StorageRoom;
  /** Every socket the client opened, newest last. */
  readonly sockets: WebSocket[];
  /** Every frame of every socket, in order: `> ` sent, `< ` received, `x ` closed. */
  readonly frames: string[];
  /** The Storage root once loaded. */
  root(): LiveObject<LsonObject>;
  /** Cuts the current socket without a close handshake; the client reconnects by itself. */
  killSocket(): void;
  leave(): void;
}

/** Options of {@link enterStorageRoom}. */
export interface StorageClientOptions {
  /** The client's `initialStorage`. */
  initialStorage?: LsonObject;
  /** Returns the token of each authentication. @default an ID token of `userId` */
  token?: () => Promise<string>;
  /** Wait for Storage to load. @default true */
  loadStorage?: boolean;
  /** The client's outgoing throttle, in ms (16 at least). @default the client's own (100) */
  throttleMs?: number;
}

/** How long the helpers wait for a connection or a Storage load, in ms. */
const LOAD_TIMEOUT_MS = 15_000;

/** Enters a room with a real client and (by default) waits until its Storage is loaded. */
export async function enterStorageRoom(
  node: NodeAddress,
  roomId: string,
  userId: string,
  options: StorageClientOptions = {},
): Promise<StorageClient> {
  const sockets: WebSocket[] = [];
  const frames: string[] = [];
  class TrackedWebSocket extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      const index = sockets.push(this) - 1;
      this.on('message', (data: Buffer) => frames.push(`< ${index} ${data.toString('utf8')}`));
      this.on('close', (code: number) => frames.push(`x ${index} ${code}`));
    }

    override send(data: unknown, ...rest: unknown[]): void {
      frames.push(`> ${sockets.indexOf(this)} ${String(data)}`);
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  }

  const client = createClient({
    baseUrl: node.url,
    authEndpoint: async () => ({
      token: await (options.token ?? (() => idToken(node, userId)))(),
    }),
    polyfills: { WebSocket: TrackedWebSocket as never },
    lostConnectionTimeout: 1_000,
    ...(options.throttleMs !== undefined ? { throttle: options.throttleMs } : {}),
  });
  const { room, leave } = client.enterRoom(roomId, {
    initialPresence: {},
    ...(options.initialStorage ? { initialStorage: options.initialStorage } : {}),
  } as never) as unknown as { room: StorageRoom; leave: () => void };
  let left = false;
  const leaveOnce = () => {
    if (left) return;
    left = true;
    leave();
  };
  onTestFinished(leaveOnce);

  if (options.loadStorage ?? true) {
    await withTimeout(room.getStorage(), LOAD_TIMEOUT_MS, `storage of ${userId}`);
  }
  return {
    client,
    room,
    sockets,
    frames,
    root: () => {
      const root = room.getStorageSnapshot();
      if (!root) throw new Error(`storage of ${userId} is not loaded`);
      return root as unknown as LiveObject<LsonObject>;
    },
    killSocket: () => sockets.at(-1)?.terminate(),
    leave: leaveOnce,
  };
}

/** The server's Storage as `GET /v2/rooms/{id}/storage?format=json` returns it. */
export async function serverJson(node: NodeAddress, roomId: string): Promise<unknown> {
  return sdk(node).getStorageDocument(roomId, 'json');
}

/**
 * Waits until every client is connected, has no unacknowledged ops, and shows the server's
 * Storage; fails with every view when that does not happen in time.
 */
export async function waitForConvergence(
  node: NodeAddress,
  roomId: string,
  clients: readonly StorageClient[],
  timeoutMs = LOAD_TIMEOUT_MS,
): Promise<unknown> {
  let expected: unknown;
  await vi.waitFor(
    async () => {
      for (const [index, each] of clients.entries()) {
        const status = each.room.getStatus();
        const storage = each.room.getStorageStatus();
        if (status !== 'connected' || storage !== 'synchronized') {
          throw new Error(`client ${index} is ${status}, storage ${storage}`);
        }
      }
      expected = await serverJson(node, roomId);
      const views = clients.map((each) => each.root().toJSON());
      for (const [index, view] of views.entries()) {
        if (JSON.stringify(sorted(view)) !== JSON.stringify(sorted(expected))) {
          throw new Error(
            `client ${index} differs from the server\nserver: ${JSON.stringify(expected)}\n` +
              views.map((each, i) => `client ${i}: ${JSON.stringify(each)}`).join('\n'),
          );
        }
      }
    },
    { timeout: timeoutMs, interval: 20 },
  );
  return expected;
}

/** A copy of a JSON value with object keys sorted, so that key order does not matter. */
export function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
