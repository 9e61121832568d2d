import fs from 'node:fs';
import path from 'node:path';

import { LiveList, LiveMap, LiveObject, type Lson, type LsonObject } from '@liveblocks/client';
import fc from 'fast-check';
import { expect, vi } from 'vitest';

import { decodeLogEntry } from '../../src/rooms/log-entry-codec.js';
import { createRoom, uniqueRoomId } from './live-session.js';
import type { TestNode } from './start-node.js';
import {
  enterStorageRoom,
  serverJson,
  sorted,
  waitForConvergence,
  type StorageClient,
} from './storage-clients.js';

/**
 * The driver of the Storage property tests: random concurrent sequences of LiveObject / LiveMap /
 * LiveList operations (nested live structures, batches, undo and redo) with random disconnects
 * and cut sockets, played by real `@liveblocks/client` instances against one or more nodes, and
 * the check that every client ends showing the server's Storage, which a client joining
 * afterwards loads too.
 */

/** Clients editing at once in a run. */
export const USERS = 3;
const KEYS = ['a', 'b', 'c', 'd'];
/** Live structures nest at most this deep below the root. */
const MAX_DEPTH = 4;

type LiveNode = LiveObject<LsonObject> | LiveMap<string, Lson> | LiveList<Lson>;

/** One edit of one client, on the `pick`-th live node of the kind the edit needs. */
interface Edit {
  readonly target: 'object' | 'map' | 'list';
  readonly variant: number;
  readonly pick: number;
  readonly value: number;
}

export type Action =
  | { readonly kind: 'edit'; readonly user: number; readonly edit: Edit }
  | { readonly kind: 'batch'; readonly user: number; readonly edits: readonly Edit[] }
  | { readonly kind: 'undo' | 'redo' | 'disconnect' | 'reconnect' | 'kill'; readonly user: number }
  /** Lets the network run for a while, so that the next edits race what is in flight. */
  | { readonly kind: 'pause'; readonly ms: number }
  /** A JSON Patch through the REST API of one of the nodes, racing the clients' edits. */
  | {
      readonly kind: 'rest';
      readonly node: number;
      readonly variant: number;
      readonly value: number;
    };

const editArbitrary: fc.Arbitrary<Edit> = fc.record({
  target: fc.constantFrom('object' as const, 'map' as const, 'list' as const, 'list' as const),
  variant: fc.nat(99),
  pick: fc.nat(99),
  value: fc.nat(999),
});

const user = fc.nat(USERS - 1);

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({ kind: fc.constant('edit' as const), user, edit: editArbitrary }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('batch' as const),
      user,
      edits: fc.array(editArbitrary, { minLength: 2, maxLength: 4 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom('undo' as const, 'redo' as const), user }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('pause' as const), ms: fc.nat(40) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('disconnect' as const, 'reconnect' as const, 'kill' as const),
      user,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('rest' as const),
      node: fc.nat(3),
      variant: fc.nat(99),
      value: fc.nat(999),
    }),
  },
);

/** Sequences of `maxActions / 2` to `maxActions` actions. */
export function actionSequences(maxActions: number): fc.Arbitrary<Action[]> {
  return fc.array(actionArbitrary, {
    minLength: Math.ceil(maxActions / 2),
    maxLength: maxActions,
    size: 'max',
  });
}

/**
 * Plays one sequence in a fresh room: client `i` on `nodes[i % nodes.length]`. Fails unless
 * every client converges on what every node's REST API returns, also after each client edited
 * every node once more, and a client joining afterwards (on the last node) loads the same.
 */
export async function runStorageSequence(
  nodes: readonly TestNode[],
  actions: readonly Action[],
): Promise<void> {
  const node = nodes[0]!;
  const nodeOf = (index: number) => nodes[index % nodes.length]!;
  const roomId = uniqueRoomId('fuzz');
  await createRoom(node, roomId);
  const clients: StorageClient[] = [];
  try {
    clients.push(
      await enterStorageRoom(nodeOf(0), roomId, 'user-0', {
        throttleMs: 16,
        initialStorage: {
          obj: new LiveObject({ n: 0, inner: new LiveObject({ m: 0 }) }),
          map: new LiveMap([['k', new LiveList([1])]]),
          list: new LiveList([new LiveObject({ x: 0 }), 'two']),
        },
      }),
    );
    for (let i = 1; i < USERS; i++) {
      clients.push(await enterStorageRoom(nodeOf(i), roomId, `user-${i}`, { throttleMs: 16 }));
    }
    await waitForConvergence(node, roomId, clients);

    for (const action of actions) await perform({ nodes, roomId, clients }, action);
    for (const each of clients) {
      if (each.room.getStatus() === 'initial') each.room.connect();
    }
    await dumpOnFailure(node, roomId, clients, () =>
      waitForConvergence(node, roomId, clients, 20_000),
    );

    // Every client must still hold every node live: one that only shows a node it dropped would
    // miss the next edits of it. Each client edits every node once more.
    for (const [index, each] of clients.entries()) {
      const nodes = liveNodes(each.root());
      for (const [pick, { node: target }] of nodes.entries()) {
        touch(target, index * 1_000 + pick);
      }
    }
    const expected = await dumpOnFailure(node, roomId, clients, () =>
      waitForConvergence(node, roomId, clients, 20_000),
    );

    for (const other of nodes.slice(1)) {
      await vi.waitFor(async () =>
        expect(sorted(await serverJson(other, roomId))).toEqual(sorted(expected)),
      );
    }
    const late = await enterStorageRoom(nodes.at(-1)!, roomId, 'late', { throttleMs: 16 });
    expect(sorted(late.root().toJSON())).toEqual(sorted(expected));
    late.leave();
  } finally {
    for (const each of clients) each.leave();
  }
}

/**
 * Runs `check`; when it fails and STORAGE_FUZZ_DUMP names a folder, writes every frame each
 * client sent and received there, to find which message went astray.
 */
async function dumpOnFailure<T>(
  node: TestNode,
  roomId: string,
  clients: readonly StorageClient[],
  check: () => Promise<T>,
): Promise<T> {
  try {
    return await check();
  } catch (error) {
    const folder = process.env.STORAGE_FUZZ_DUMP;
    if (folder) {
      const log = await node.store.roomLog.readAfter(roomId, 0);
      const entries = log.map((row) => {
        const entry = decodeLogEntry(row.entry);
        return entry.kind === 'storage-ops'
          ? `${row.seq} ${entry.origin} ${new TextDecoder().decode(entry.payload)}`
          : `${row.seq} yjs`;
      });
      const text = [
        `=== error\n${String(error)}`,
        `=== log\n${entries.join('\n')}`,
        ...clients.map((each, index) => `=== client ${index}\n${each.frames.join('\n')}`),
      ].join('\n');
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, `${encodeURIComponent(roomId)}.log`), text);
    }
    throw error;
  }
}

/** What an action acts on. */
interface RunContext {
  readonly nodes: readonly TestNode[];
  readonly roomId: string;
  readonly clients: readonly StorageClient[];
}

async function perform({ nodes, roomId, clients }: RunContext, action: Action): Promise<void> {
  switch (action.kind) {
    case 'rest': {
      const node = nodes[action.node % nodes.length]!;
      const response = await fetch(
        `${node.url}/v2/rooms/${encodeURIComponent(roomId)}/storage/json-patch`,
        {
          method: 'PATCH',
          headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
          body: JSON.stringify(restPatch(action.variant, action.value)),
        },
      );
      // 422: the patch named something the clients had removed meanwhile.
      expect([200, 422]).toContain(response.status);
      return;
    }
    case 'pause':
      // A step of the random schedule, not a wait for a condition.
      await new Promise((resolve) => setTimeout(resolve, action.ms));
      return;
    case 'edit':
      applyEdit(clients[action.user]!, action.edit);
      return;
    case 'batch': {
      const client = clients[action.user]!;
      client.room.batch(() => {
        for (const edit of action.edits) applyEdit(client, edit);
      });
      return;
    }
    case 'undo':
      clients[action.user]!.room.history.undo();
      return;
    case 'redo':
      clients[action.user]!.room.history.redo();
      return;
    case 'disconnect':
      clients[action.user]!.room.disconnect();
      return;
    case 'reconnect':
      if (clients[action.user]!.room.getStatus() === 'initial')
        clients[action.user]!.room.connect();
      return;
    case 'kill':
      clients[action.user]!.killSocket();
      return;
  }
}

/** A small JSON Patch on the shape the runs start from; it may fail on the shape they reach. */
function restPatch(variant: number, value: number): unknown[] {
  switch (variant % 5) {
    case 0:
      return [{ op: 'add', path: `/${KEYS[value % KEYS.length]!}`, value }];
    case 1:
      return [{ op: 'add', path: '/list/0', value: { rest: value, items: [value] } }];
    case 2:
      return [{ op: 'remove', path: '/list/0' }];
    case 3:
      return [{ op: 'replace', path: '/obj/n', value }];
    default:
      return [
        { op: 'add', path: `/map/${KEYS[value % KEYS.length]!}`, value: [value] },
        { op: 'move', from: '/list/0', path: '/list/-' },
      ];
  }
}

/** Every live node of a tree with its depth, root first. */
function liveNodes(root: LiveObject<LsonObject>): Array<{ node: LiveNode; depth: number }> {
  const found: Array<{ node: LiveNode; depth: number }> = [];
  const pending: Array<{ node: LiveNode; depth: number }> = [{ node: root, depth: 0 }];
  while (pending.length > 0) {
    const entry = pending.shift()!;
    found.push(entry);
    for (const child of childrenOf(entry.node)) {
      if (child instanceof LiveObject || child instanceof LiveMap || child instanceof LiveList) {
        pending.push({ node: child as LiveNode, depth: entry.depth + 1 });
      }
    }
  }
  return found;
}

function childrenOf(node: LiveNode): unknown[] {
  if (node instanceof LiveObject) return Object.keys(node.toJSON()).map((key) => node.get(key));
  if (node instanceof LiveMap) return [...node.values()];
  return [...node];
}

function applyEdit(client: StorageClient, edit: Edit): void {
  const candidates = liveNodes(client.root()).filter(({ node }) =>
    edit.target === 'object'
      ? node instanceof LiveObject
      : edit.target === 'map'
        ? node instanceof LiveMap
        : node instanceof LiveList,
  );
  if (candidates.length === 0) return;
  const { node, depth } = candidates[edit.pick % candidates.length]!;
  const key = KEYS[edit.value % KEYS.length]!;
  const value = () => makeValue(edit.value, depth + 1);

  if (node instanceof LiveObject) {
    switch (edit.variant % 4) {
      case 0:
        node.set(key, value());
        return;
      case 1:
        node.update({ [key]: value(), [KEYS[(edit.value + 1) % KEYS.length]!]: edit.variant });
        return;
      case 2:
        node.delete(key);
        return;
      default:
        node.set(key, edit.value);
        return;
    }
  }
  if (node instanceof LiveMap) {
    if (edit.variant % 3 === 2) node.delete(key);
    else node.set(key, value());
    return;
  }

  const list = node as LiveList<Lson>;
  const length = list.length;
  const index = length === 0 ? 0 : edit.value % length;
  switch (edit.variant % 7) {
    case 0:
      list.push(value());
      return;
    case 1:
      list.insert(value(), edit.value % (length + 1));
      return;
    case 2:
      if (length > 0) list.delete(index);
      return;
    case 3:
      if (length > 1) list.move(index, (edit.value * 7 + edit.variant) % length);
      return;
    case 4:
      if (length > 0) list.set(index, value());
      return;
    case 5:
      // Clearing often would keep lists short; one edit in four of this kind clears.
      if (edit.value % 4 === 0) list.clear();
      else list.insert(edit.value, 0);
      return;
    default:
      list.push(edit.value);
      return;
  }
}

/** A plain or live value; live ones nest further while `depth` allows. */
function makeValue(seed: number, depth: number): Lson {
  if (depth >= MAX_DEPTH) return seed;
  switch (seed % 6) {
    case 1:
      return new LiveObject({ n: seed, inner: new LiveObject({ m: seed }) });
    case 2:
      return new LiveList<Lson>([seed, new LiveObject({ x: seed })]);
    case 3:
      return new LiveMap<string, Lson>([['k', new LiveList<Lson>([seed])]]);
    case 4:
      return { plain: seed, nested: [seed, { deep: `s${seed}` }] };
    default:
      return seed % 2 === 0 ? seed : `s${seed}`;
  }
}

/** One more edit of a node, whatever its kind. */
function touch(node: LiveNode, value: number): void {
  if (node instanceof LiveObject) node.set('touched', value);
  else if (node instanceof LiveMap) node.set('touched', value);
  else node.push(value);
}
