import type { LiveMap } from '@liveblocks/client';
import { expect, vi } from 'vitest';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';

import {
  SERVER_MSG,
  enterRoom,
  fetchRoomDoc,
  fromBase64,
  mintIdToken,
  openLiveblocksYjs,
  openYWebsocket,
  restClient,
  type ClientSession,
  type NodeAddress,
  type YWebsocketSession,
  type YjsSession,
} from './clients.js';
import { cleanUpAfter } from './start-node.js';
import { enterStorageRoom, type StorageClient } from './storage-clients.js';

/**
 * Load for cluster fault tests: real `@liveblocks/yjs` and `y-websocket` clients that each
 * write keys of their own into one Y.Map, real `@liveblocks/client` clients that do the same in
 * a Storage LiveMap, ledgers of every key the server ever sent to any client (an acknowledged
 * write: it left the room log), and convergence checks.
 */

/** The Y.Map every writer writes into. */
export const WRITES_MAP = 'writes';
/** Writers' keys: `w:<writer>:<n>`. */
const KEY_PATTERN = /^w:[^:]+:\d+$/;
/** How long convergence may take after the load stops, in milliseconds. */
const CONVERGE_TIMEOUT_MS = 15_000;

/** The first time each key was seen in an update the server sent. */
export class AckLedger {
  readonly firstSeen = new Map<string, number>();

  /** Records the writers' keys set by a Yjs (v1) update received from the server. */
  record(update: Uint8Array): void {
    const now = performance.now();
    for (const key of keysOfUpdate(update)) {
      if (!this.firstSeen.has(key)) this.firstSeen.set(key, now);
    }
  }

  get size(): number {
    return this.firstSeen.size;
  }

  /** Keys of one writer acknowledged so far. */
  of(writer: string): string[] {
    return [...this.firstSeen.keys()].filter((key) => key.startsWith(`w:${writer}:`));
  }

  /** The earliest acknowledgement after `since` (performance.now() time), if any. */
  firstAfter(since: number): number | undefined {
    let first: number | undefined;
    for (const at of this.firstSeen.values()) {
      if (at > since && (first === undefined || at < first)) first = at;
    }
    return first;
  }
}

/** The writers' keys a Yjs v1 update sets, read from its structs without applying it. */
export function keysOfUpdate(update: Uint8Array): string[] {
  const keys: string[] = [];
  for (const struct of Y.decodeUpdate(update).structs) {
    if (struct instanceof Y.Item && struct.parentSub !== null && KEY_PATTERN.test(struct.parentSub))
      keys.push(struct.parentSub);
  }
  return keys;
}

/** A client writing keys of its own. */
export interface Writer {
  readonly name: string;
  readonly doc: Y.Doc;
  /** Every key written, with the time (performance.now()) it was written locally. */
  readonly sent: Map<string, number>;
  /** Writes the next key. */
  write(): void;
}

/** A `@liveblocks/yjs` writer with its Liveblocks room. */
export interface LiveblocksWriter extends Writer {
  readonly session: YjsSession;
}

/** A `y-websocket` writer. */
export interface YWebsocketWriter extends Writer {
  readonly session: YWebsocketSession;
}

/** Room and organization the writers join. */
export interface Target {
  readonly roomId: string;
  readonly organizationId: string;
}

/**
 * A `@liveblocks/yjs` client through `address` (a node or its proxy) that records in `ledger`
 * every key of every UPDATE_YDOC the server sends it, its own echoed writes included.
 */
export async function liveblocksWriter(
  address: NodeAddress,
  target: Target,
  name: string,
  ledger: AckLedger,
): Promise<LiveblocksWriter> {
  const session = await openLiveblocksYjs(address, target.roomId, {
    token: () => mintIdToken(address, name, { organizationId: target.organizationId }),
    initialPresence: { writer: name },
  });
  const unsubscribe = session.room.events.ydoc.subscribe((message) => {
    if (message.type !== SERVER_MSG.UPDATE_YDOC || message.guid !== undefined) return;
    ledger.record(fromBase64(message.update));
  });
  cleanUpAfter(unsubscribe);
  return { session, ...writerOf(name, session.doc) };
}

/**
 * A stock `y-websocket` client through `address` that records in `ledger` every key of the
 * updates the server sends it (it gets no echo of its own).
 */
export async function yWebsocketWriter(
  address: NodeAddress,
  target: Target,
  name: string,
  ledger: AckLedger,
): Promise<YWebsocketWriter> {
  const token = await mintIdToken(address, name, { organizationId: target.organizationId });
  const doc = new Y.Doc();
  // Attached before the first sync, which already carries other writers' keys. The provider
  // applies what the server sends with itself as the origin; local writes have none.
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin instanceof WebsocketProvider) ledger.record(update);
  });
  const session = await openYWebsocket(address, target.roomId, token, doc);
  return { session, ...writerOf(name, doc) };
}

/** A Liveblocks client that only holds presence, for watching others come and go. */
export async function presenceWatcher(
  address: NodeAddress,
  target: Target,
  name: string,
): Promise<ClientSession> {
  return enterRoom(address, target.roomId, {
    token: () => mintIdToken(address, name, { organizationId: target.organizationId }),
    initialPresence: { watcher: name },
  });
}

/** A `@liveblocks/client` writing keys of its own into the LiveMap `writes` of Storage. */
export interface StorageWriter extends Omit<Writer, 'doc'> {
  readonly storage: StorageClient;
  /** Writers' keys in this client's Storage now. */
  keys(): Set<string>;
}

/** The Storage every storage writer expects: `{ writes: LiveMap }`, made before they join. */
export async function initializeWritesStorage(node: NodeAddress, roomId: string): Promise<void> {
  await restClient(node).initializeStorageDocument(roomId, {
    liveblocksType: 'LiveObject',
    data: { [WRITES_MAP]: { liveblocksType: 'LiveMap', data: {} } },
  });
}

/**
 * A real `@liveblocks/client` through `address` that writes Storage keys of its own and records
 * in `ledger` every other writer's key its Storage receives: the server sent it, so it was in
 * the room log (an acknowledged write).
 */
export async function storageWriter(
  address: NodeAddress,
  target: Target,
  name: string,
  ledger: AckLedger,
): Promise<StorageWriter> {
  const storage = await enterStorageRoom(address, target.roomId, name, {
    token: () => mintIdToken(address, name, { organizationId: target.organizationId }),
  });
  const writes = () => storage.root().get(WRITES_MAP) as LiveMap<string, number>;
  const keys = () => new Set([...writes().keys()].filter((key) => KEY_PATTERN.test(key)));
  const own = `w:${name}:`;
  storage.room.events.storageBatch.subscribe(() => {
    const now = performance.now();
    for (const key of keys()) {
      if (!key.startsWith(own) && !ledger.firstSeen.has(key)) ledger.firstSeen.set(key, now);
    }
  });

  const sent = new Map<string, number>();
  let next = 0;
  return {
    name,
    storage,
    sent,
    keys,
    write() {
      const key = `${own}${next}`;
      sent.set(key, performance.now());
      writes().set(key, next++);
    },
  };
}

/**
 * Waits until every storage writer holds exactly `expected` in its Storage and has nothing
 * unacknowledged, then checks that every acknowledged key is among them.
 */
export async function expectStorageConverged(
  writers: readonly StorageWriter[],
  expected: ReadonlySet<string>,
  ledger: AckLedger,
  timeoutMs = CONVERGE_TIMEOUT_MS,
): Promise<void> {
  await vi.waitFor(
    () => {
      for (const writer of writers) {
        const held = writer.keys();
        const missing = [...expected].filter((key) => !held.has(key));
        const status = writer.storage.room.getStorageStatus();
        if (missing.length > 0 || held.size !== expected.size || status !== 'synchronized') {
          throw new Error(
            `${writer.name} (storage ${status}) holds ${held.size} of ${expected.size} keys; ` +
              `missing ${missing.length} (${missing.slice(0, 5).join(', ')})`,
          );
        }
      }
    },
    { timeout: timeoutMs, interval: 50 },
  );
  expect([...ledger.firstSeen.keys()].filter((key) => !expected.has(key))).toEqual([]);
}

/** The Storage keys a node serves over REST: every written and acknowledged key must be there. */
export async function expectStorageServedByNode(
  node: NodeAddress,
  roomId: string,
  expected: ReadonlySet<string>,
  ledger: AckLedger,
): Promise<void> {
  const json = (await restClient(node).getStorageDocument(roomId, 'json')) as Record<
    string,
    Record<string, number>
  >;
  const served = new Set(Object.keys(json[WRITES_MAP] ?? {}));
  const acked = [...ledger.firstSeen.keys()];
  expect(
    acked.filter((key) => !served.has(key)),
    'acknowledged keys missing',
  ).toEqual([]);
  expect(
    [...expected].filter((key) => !served.has(key)),
    'written keys missing',
  ).toEqual([]);
  expect(served.size).toBe(expected.size);
}

/** Writes one key per writer every `intervalMs` until stopped (or the test ends). */
export function startLoad(
  writers: readonly Pick<Writer, 'write'>[],
  intervalMs: number,
): { stop(): void } {
  const timer = setInterval(() => {
    for (const writer of writers) writer.write();
  }, intervalMs);
  const stop = () => clearInterval(timer);
  cleanUpAfter(stop);
  return { stop };
}

/** Every key the writers wrote. */
export function allSent(writers: readonly Pick<Writer, 'sent'>[]): Set<string> {
  const keys = new Set<string>();
  for (const writer of writers) for (const key of writer.sent.keys()) keys.add(key);
  return keys;
}

/** Writers' keys in a document. */
export function keysIn(doc: Y.Doc): Set<string> {
  return new Set([...doc.getMap(WRITES_MAP).keys()].filter((key) => KEY_PATTERN.test(key)));
}

/**
 * Waits until every document holds exactly `expected` (every key written, none lost, none
 * invented), then checks that every acknowledged key is among them.
 */
export async function expectConverged(
  docs: readonly { readonly name: string; readonly doc: Y.Doc }[],
  expected: ReadonlySet<string>,
  ledger: AckLedger,
  timeoutMs = CONVERGE_TIMEOUT_MS,
): Promise<void> {
  await vi.waitFor(
    () => {
      for (const { name, doc } of docs) {
        const held = keysIn(doc);
        const missing = [...expected].filter((key) => !held.has(key));
        const extra = [...held].filter((key) => !expected.has(key));
        if (missing.length > 0 || extra.length > 0) {
          throw new Error(
            `${name} holds ${held.size} of ${expected.size} keys; missing ${missing.length} ` +
              `(${missing.slice(0, 5).join(', ')}), unexpected ${extra.length}`,
          );
        }
      }
    },
    { timeout: timeoutMs, interval: 50 },
  );
  const acked = [...ledger.firstSeen.keys()];
  expect(acked.filter((key) => !expected.has(key))).toEqual([]);
}

/**
 * The room as a node serves it over REST (`GET /v2/rooms/{id}/ydoc-binary`): every key
 * written must be there, every acknowledged key among them. A node that never held the room
 * loads it from the database snapshot and the Redis log, so this reads what is durable.
 */
export async function expectServedByNode(
  node: NodeAddress,
  roomId: string,
  expected: ReadonlySet<string>,
  ledger: AckLedger,
): Promise<void> {
  const served = keysIn(await fetchRoomDoc(node, roomId));
  const acked = [...ledger.firstSeen.keys()];
  expect(
    acked.filter((key) => !served.has(key)),
    'acknowledged keys missing',
  ).toEqual([]);
  expect(
    [...expected].filter((key) => !served.has(key)),
    'written keys missing',
  ).toEqual([]);
  expect(served.size).toBe(expected.size);
}

function writerOf(name: string, doc: Y.Doc): Writer {
  const sent = new Map<string, number>();
  let next = 0;
  return {
    name,
    doc,
    sent,
    write() {
      const key = `w:${name}:${next}`;
      sent.set(key, performance.now());
      doc.getMap<number>(WRITES_MAP).set(key, next++);
    },
  };
}
