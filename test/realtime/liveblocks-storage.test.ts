import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LiveList, LiveMap, LiveObject, type Lson } from '@liveblocks/client';
import { describe, expect, it, vi } from 'vitest';

import {
  liveblocksSocketUrl,
  mintIdToken,
  openRawSocket,
  type LiveblocksMessage,
  type RawSocket,
} from '../support/clients.js';
import { createRoom, sdk, uniqueRoomId } from '../support/live-session.js';
import { cleanUpAfter, startNode, type TestNode } from '../support/start-node.js';
import {
  enterStorageRoom,
  serverJson,
  waitForConvergence,
  type StorageClient,
} from '../support/storage-clients.js';

const UPDATE_STORAGE = 201;
const STORAGE_STATE_V7 = 200;
const STORAGE_CHUNK = 210;
const STORAGE_STREAM_END = 211;
const REJECT_STORAGE_OP = 299;

/** A raw `/v8` (or `/v7`) socket of `userId`, joined. */
async function joinRaw(
  node: TestNode,
  roomId: string,
  userId: string,
  path: '/v7' | '/v8' = '/v8',
): Promise<RawSocket> {
  const socket = openRawSocket(
    liveblocksSocketUrl(node, path, roomId, await mintIdToken(node, userId)),
  );
  await socket.waitForMessage((message) => message.type === 104);
  return socket;
}

/** The list of a client whose root holds `list`. */
function listOf(client: StorageClient): LiveList<Lson> {
  return client.root().get('list') as LiveList<Lson>;
}

describe('Storage with real clients', () => {
  it('stores the first client’s initialStorage for the REST API and later clients', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: {
        title: 'plan',
        list: new LiveList([1, new LiveObject({ done: false })]),
        tags: new LiveMap([['a', new LiveList(['x'])]]),
      },
    });
    await waitForConvergence(node, roomId, [alice]);

    expect(await serverJson(node, roomId)).toEqual({
      title: 'plan',
      list: [1, { done: false }],
      tags: { a: ['x'] },
    });
    const bob = await enterStorageRoom(node, roomId, 'bob', {
      initialStorage: { title: 'ignored' },
    });
    expect(bob.root().toJSON()).toEqual({
      title: 'plan',
      list: [1, { done: false }],
      tags: { a: ['x'] },
    });
  });

  it('converges when two clients insert at the same list position at the same time', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: { list: new LiveList(['start']) },
    });
    const bob = await enterStorageRoom(node, roomId, 'bob');
    await waitForConvergence(node, roomId, [alice, bob]);

    for (let i = 0; i < 5; i++) {
      listOf(alice).insert(`a${i}`, 0);
      listOf(bob).insert(`b${i}`, 0);
      listOf(alice).move(0, listOf(alice).length - 1);
      listOf(bob).delete(listOf(bob).length - 1);
    }

    const state = (await waitForConvergence(node, roomId, [alice, bob])) as { list: string[] };
    expect(state.list.filter((item) => item.startsWith('a'))).toHaveLength(5);
  });

  it('acknowledges a client’s ops so that its storage reports "synchronized"', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: { count: 0 },
    });

    alice.root().set('count', 1);
    expect(alice.room.getStorageStatus()).toBe('synchronizing');

    await vi.waitFor(() => expect(alice.room.getStorageStatus()).toBe('synchronized'));
    expect(await serverJson(node, roomId)).toEqual({ count: 1 });
  });

  it('converges a client that edited offline and reconnects with its pending ops', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: { list: new LiveList([0]), note: new LiveObject({ text: 'a' }) },
    });
    const bob = await enterStorageRoom(node, roomId, 'bob');
    await waitForConvergence(node, roomId, [alice, bob]);

    alice.room.disconnect();
    listOf(alice).push('offline-1');
    listOf(alice).insert('offline-0', 0);
    (alice.root().get('note') as LiveObject<{ text: string }>).set('text', 'from alice');
    listOf(bob).push('online');
    (bob.root().get('note') as LiveObject<{ text: string }>).set('text', 'from bob');
    await vi.waitFor(() => expect(bob.room.getStorageStatus()).toBe('synchronized'));
    expect(alice.room.getStorageStatus()).toBe('synchronizing');
    alice.room.connect();

    const state = (await waitForConvergence(node, roomId, [alice, bob])) as {
      list: unknown[];
      note: { text: string };
    };
    expect(state.list).toEqual(expect.arrayContaining(['offline-0', 'offline-1', 'online', 0]));
    expect(state.list).toHaveLength(4);
    // Alice's write reached the log after Bob's: the last writer wins.
    expect(state.note.text).toBe('from alice');
  });

  it('converges when a client’s socket is cut right after it sent ops', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: { list: new LiveList([]) },
    });
    const bob = await enterStorageRoom(node, roomId, 'bob');
    await waitForConvergence(node, roomId, [alice, bob]);

    for (let round = 0; round < 3; round++) {
      listOf(alice).push(`a${round}`);
      listOf(bob).push(`b${round}`);
      alice.killSocket();
      listOf(alice).push(`late${round}`);
      await waitForConvergence(node, roomId, [alice, bob]);
    }

    expect(((await serverJson(node, roomId)) as { list: unknown[] }).list).toHaveLength(9);
  });

  it('sends a REST initialization and a REST deletion to connected clients as ops', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice');
    const bob = await enterStorageRoom(node, roomId, 'bob');

    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: {
        a: 1,
        list: { liveblocksType: 'LiveList', data: [1, { liveblocksType: 'LiveMap', data: {} }] },
      },
    });
    await vi.waitFor(() => expect(alice.root().toJSON()).toEqual({ a: 1, list: [1, {}] }));
    // The clients hold the new nodes live: their edits of them go through.
    (listOf(bob).get(1) as LiveMap<string, number>).set('k', 2);
    await waitForConvergence(node, roomId, [alice, bob]);
    expect(alice.root().toJSON()).toEqual({ a: 1, list: [1, { k: 2 }] });

    await sdk(node).deleteStorageDocument(roomId);
    await vi.waitFor(() => expect(alice.root().toJSON()).toEqual({}));
    await vi.waitFor(() => expect(bob.root().toJSON()).toEqual({}));
    expect(await serverJson(node, roomId)).toEqual({});
    alice.root().set('after', true);
    await waitForConvergence(node, roomId, [alice, bob]);
  });

  it('sends a REST JSON Patch to connected clients, which hold the new nodes live', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = await enterStorageRoom(node, roomId, 'alice', {
      initialStorage: { list: new LiveList<Lson>(['a']) },
    });
    await waitForConvergence(node, roomId, [alice]);

    const response = await fetch(
      `${node.url}/v2/rooms/${encodeURIComponent(roomId)}/storage/json-patch`,
      {
        method: 'PATCH',
        headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
        body: JSON.stringify([
          { op: 'add', path: '/list/0', value: { shape: 'circle', points: [1] } },
          { op: 'add', path: '/title', value: 'drawing' },
        ]),
      },
    );
    expect(response.status).toBe(200);

    await vi.waitFor(() =>
      expect(alice.root().toJSON()).toEqual({
        list: [{ shape: 'circle', points: [1] }, 'a'],
        title: 'drawing',
      }),
    );
    const shape = listOf(alice).get(0) as LiveObject<{ points: LiveList<number> }>;
    shape.get('points').push(2);
    await waitForConvergence(node, roomId, [alice]);
    expect(await serverJson(node, roomId)).toMatchObject({ list: [{ points: [1, 2] }, 'a'] });
  });

  it('keeps the Storage across a restart of the node (snapshot and log)', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-storage-restart-'));
    cleanUpAfter(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const env = { DATABASE_URL: `sqlite:${dataDir}/weft.db`, SNAPSHOT_EVERY_ENTRIES: '5' };
    const first = await startNode(env);
    const roomId = uniqueRoomId();
    await createRoom(first, roomId);
    const alice = await enterStorageRoom(first, roomId, 'alice', {
      initialStorage: { list: new LiveList([]) },
    });
    for (let i = 0; i < 12; i++) listOf(alice).push(new LiveObject({ i }));
    const before = await waitForConvergence(first, roomId, [alice]);
    alice.leave();
    await first.close();

    const second = await startNode(env);
    expect(await serverJson(second, roomId)).toEqual(before);
    const bob = await enterStorageRoom(second, roomId, 'bob');
    expect(bob.root().toJSON()).toEqual(before);
    listOf(bob).push(new LiveObject({ i: 12 }));
    await waitForConvergence(second, roomId, [bob]);
  });
});

describe('Storage over raw sockets', () => {
  it('streams a tree of 2,500 nodes as chunks of at most 1,000 nodes, then the stream end', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const items = Array.from({ length: 2_498 }, (_, i) => i);
    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { list: { liveblocksType: 'LiveList', data: items } },
    });
    const socket = await joinRaw(node, roomId, 'reader');
    const framesBefore = socket.frames.length;

    socket.sendMessages({ type: 200 });

    await socket.waitForMessage((message) => message.type === STORAGE_STREAM_END);
    const chunkFrames = socket.frames
      .slice(framesBefore)
      .map((frame) => JSON.parse(frame.data as string) as LiveblocksMessage)
      .filter((message) => !Array.isArray(message) && message.type === STORAGE_CHUNK);
    const sizes = chunkFrames.map((message) => (message.nodes as unknown[]).length);
    expect(sizes).toEqual([1_000, 1_000, 500]);
    const nodes = chunkFrames.flatMap((message) => message.nodes as unknown[][]);
    expect(nodes[0]).toEqual(['root', {}]);
    expect(new Set(nodes.map((node) => node[0])).size).toBe(2_500);
  });

  it('applies ops sent along with FETCH_STORAGE first: their ack precedes the tree', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = await joinRaw(node, roomId, 'returning');
    const actor = socket.messages()[0]!.actor as number;

    // A reconnecting client sends the ops it could not send before together with its fetch.
    socket.sendMessages(
      { type: 200 },
      {
        type: 201,
        ops: [{ type: 2, id: `${actor}:0`, parentId: 'root', parentKey: 'l', opId: `${actor}:1` }],
      },
    );

    await socket.waitForMessage((message) => message.type === STORAGE_STREAM_END);
    const types = socket.messages().map((message) => message.type);
    expect(types.indexOf(UPDATE_STORAGE)).toBeGreaterThan(-1);
    expect(types.indexOf(UPDATE_STORAGE)).toBeLessThan(types.indexOf(STORAGE_CHUNK));
    const chunk = socket.messages().find((message) => message.type === STORAGE_CHUNK)!;
    expect(chunk.nodes).toEqual([
      ['root', {}],
      [`${actor}:0`, 1, 'root', 'l'],
    ]);
  });

  it('answers FETCH_STORAGE over /v7 with the whole tree in one STORAGE_STATE message', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { a: 1, map: { liveblocksType: 'LiveMap', data: { k: 'v' } } },
    });
    const socket = await joinRaw(node, roomId, 'old', '/v7');

    socket.sendMessages({ type: 200 });

    const state = await socket.waitForMessage((message) => message.type === STORAGE_STATE_V7);
    const items = state.items as Array<[string, Record<string, unknown>]>;
    expect(items[0]).toEqual(['root', { type: 0, data: { a: 1 } }]);
    expect(items.map(([, item]) => [item.type, item.parentKey, item.data])).toEqual([
      [0, undefined, { a: 1 }],
      [2, 'map', undefined],
      [3, 'k', 'v'],
    ]);
  });

  it('acknowledges the sender with its opIds and sends the others the ops without them', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const writer = await joinRaw(node, roomId, 'writer');
    const watcher = await joinRaw(node, roomId, 'watcher');
    watcher.sendMessages({ type: 200 });
    await watcher.waitForMessage((message) => message.type === STORAGE_STREAM_END);
    const actor = writer.messages()[0]!.actor as number;

    writer.sendMessages({
      type: 201,
      ops: [
        { type: 2, id: `${actor}:0`, parentId: 'root', parentKey: 'list', opId: `${actor}:1` },
        {
          type: 8,
          id: `${actor}:2`,
          parentId: `${actor}:0`,
          parentKey: '!',
          data: 'x',
          opId: `${actor}:3`,
        },
        { type: 3, id: 'missing', data: { a: 1 }, opId: `${actor}:4` },
      ],
    });

    const ack = await writer.waitForMessage((message) => message.type === UPDATE_STORAGE);
    expect((ack.ops as Array<{ opId?: string }>).map((op) => op.opId)).toEqual([
      `${actor}:1`,
      `${actor}:3`,
      `${actor}:4`,
    ]);
    const fanOut = await watcher.waitForMessage((message) => message.type === UPDATE_STORAGE);
    expect(fanOut.ops).toEqual([
      { type: 2, id: `${actor}:0`, parentId: 'root', parentKey: 'list' },
      { type: 8, id: `${actor}:2`, parentId: `${actor}:0`, parentKey: '!', data: 'x' },
    ]);
    expect(await serverJson(node, roomId)).toEqual({ list: ['x'] });
  });

  it('refuses a read-only socket’s ops without applying, fanning out or logging them', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { defaultAccesses: ['room:read', 'room:presence:write'] });
    const writerToken = await mintIdToken(node, 'writer');
    await sdk(node).updateRoom(roomId, { usersAccesses: { writer: ['room:write'] } });
    const writer = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, writerToken));
    await writer.waitForMessage((message) => message.type === 104);
    writer.sendMessages({ type: 200 });
    await writer.waitForMessage((message) => message.type === STORAGE_STREAM_END);
    const reader = await joinRaw(node, roomId, 'reader');
    const entriesBefore = await storageLogEntries(node);

    reader.sendMessages(
      { type: 200 },
      {
        type: 201,
        ops: [
          { type: 3, id: 'root', data: { a: 1 }, opId: 'r:1' },
          { type: 8, id: 'r:2', parentId: 'root', parentKey: 'b', data: 1, opId: 'r:3' },
        ],
      },
    );

    const rejection = await reader.waitForMessage((message) => message.type === REJECT_STORAGE_OP);
    expect(rejection).toEqual({
      type: REJECT_STORAGE_OP,
      opIds: ['r:1', 'r:3'],
      reason: expect.stringContaining('Read-only') as string,
    });
    // A write of the writer after it proves the reader's ops would have arrived by now.
    writer.sendMessages({ type: 201, ops: [{ type: 3, id: 'root', data: { w: 1 }, opId: 'w:1' }] });
    await reader.waitForMessage((message) => message.type === UPDATE_STORAGE);
    expect(await serverJson(node, roomId)).toEqual({ w: 1 });
    expect(writer.messages().filter((message) => message.type === UPDATE_STORAGE)).toHaveLength(1);
    expect(await storageLogEntries(node)).toBe(entriesBefore + 1);
    const refusals = node.logs.filter(
      (record) => record.msg === 'write of a read-only connection refused',
    );
    expect(refusals).toEqual([expect.objectContaining({ kind: 'storage', user: 'reader' })]);
  });

  it('refuses LiveText ops with the rejection message, applies the rest, logs once per room', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = await joinRaw(node, roomId, 'newer-client');
    const actor = socket.messages()[0]!.actor as number;

    for (const round of [0, 1]) {
      socket.sendMessages({
        type: 201,
        ops: [
          {
            type: 9,
            id: `${actor}:t${round}`,
            parentId: 'root',
            parentKey: `text${round}`,
            data: '',
            opId: `${actor}:o${round}`,
          },
          { type: 3, id: 'root', data: { [`plain${round}`]: round }, opId: `${actor}:p${round}` },
        ],
      });
      const rejection = await socket.waitForMessage(
        (message) =>
          message.type === REJECT_STORAGE_OP &&
          (message.opIds as string[]).includes(`${actor}:o${round}`),
      );
      expect(rejection.opIds).toEqual([`${actor}:o${round}`]);
      expect(rejection.reason).toContain('CREATE_TEXT');
    }

    await vi.waitFor(async () =>
      expect(await serverJson(node, roomId)).toEqual({ plain0: 0, plain1: 1 }),
    );
    const logged = node.logs.filter((record) => record.msg === 'unsupported storage op refused');
    expect(logged).toEqual([expect.objectContaining({ op: 'CREATE_TEXT', room: roomId })]);
  });

  it('closes with 4000 a socket that sends malformed ops, and applies none of them', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = await joinRaw(node, roomId, 'bad');
    const entriesBefore = await storageLogEntries(node);

    socket.sendMessages({
      type: 201,
      ops: [
        { type: 3, id: 'root', data: { a: 1 }, opId: 'x:1' },
        { type: 4, id: 'x:2', opId: 'x:3' },
      ],
    });

    expect((await socket.closed()).code).toBe(4000);
    expect(await serverJson(node, roomId)).toEqual({});
    expect(await storageLogEntries(node)).toBe(entriesBefore);
  });
});

/** Storage entries this node appended so far, from its metrics. */
async function storageLogEntries(node: TestNode): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const match = /weft_log_entries_total\{kind="storage"[^}]*\} (\d+)/.exec(text);
  return match ? Number(match[1]) : 0;
}
