import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { LiveList, LiveObject, type Lson } from '@liveblocks/client';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { createRoom, sdk, uniqueRoomId } from '../support/live-session.js';
import { startRedisServer } from '../support/redis-server.js';
import { startNode, type TestNode } from '../support/start-node.js';
import {
  enterStorageRoom,
  serverJson,
  waitForConvergence,
  type StorageClient,
} from '../support/storage-clients.js';
import { actionSequences, runStorageSequence } from '../support/storage-fuzz.js';

/**
 * Storage on two nodes in one process sharing a database and a Redis server (each runs a
 * RedisBus): both apply the room log in one order, so clients on either node converge, each
 * node's REST API returns the same tree, and a REST write on one node reaches clients on the
 * other.
 */

const RUNS = Number(process.env.STORAGE_FUZZ_NODE_RUNS ?? 15);
const MAX_ACTIONS = 40;

let nodeA: TestNode;
let nodeB: TestNode;
let sharedDir: string | undefined;

// At file level: an afterAll registered inside beforeAll would never run.
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
  if (sharedDir) fs.rmSync(sharedDir, { recursive: true, force: true });
});

beforeAll(async () => {
  const redis = await startRedisServer();
  sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-storage-nodes-'));
  const shared = {
    REDIS_URL: redis.url,
    DATABASE_URL: `sqlite:${path.join(sharedDir, 'weft.db')}`,
    LOG_LEVEL: 'warn',
  };
  nodeA = await startNode({ ...shared, NODE_ID: 'storage-a' });
  nodeB = await startNode({ ...shared, NODE_ID: 'storage-b' });
});

function listOf(client: StorageClient): LiveList<Lson> {
  return client.root().get('list') as LiveList<Lson>;
}

describe('Storage across two nodes over Redis', () => {
  it('converges clients of both nodes editing one list at the same time', async () => {
    const roomId = uniqueRoomId('nodes');
    await createRoom(nodeA, roomId);
    const alice = await enterStorageRoom(nodeA, roomId, 'alice', {
      initialStorage: { list: new LiveList<Lson>([]) },
    });
    const bob = await enterStorageRoom(nodeB, roomId, 'bob');
    await waitForConvergence(nodeA, roomId, [alice, bob]);

    for (let i = 0; i < 10; i++) {
      listOf(alice).insert(new LiveObject({ by: 'alice', i }), 0);
      listOf(bob).insert(new LiveObject({ by: 'bob', i }), 0);
      if (i % 3 === 0) listOf(bob).move(0, listOf(bob).length - 1);
    }

    const state = (await waitForConvergence(nodeA, roomId, [alice, bob])) as { list: unknown[] };
    expect(state.list).toHaveLength(20);
    await vi.waitFor(async () => expect(await serverJson(nodeB, roomId)).toEqual(state));
  });

  it('sends a REST write on one node to the clients of the other', async () => {
    const roomId = uniqueRoomId('nodes');
    await createRoom(nodeA, roomId);
    const alice = await enterStorageRoom(nodeA, roomId, 'alice');

    await sdk(nodeB).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { list: { liveblocksType: 'LiveList', data: ['from', 'b'] } },
    });
    await vi.waitFor(() => expect(alice.root().toJSON()).toEqual({ list: ['from', 'b'] }));
    listOf(alice).push('alice');
    await waitForConvergence(nodeB, roomId, [alice]);

    await sdk(nodeB).deleteStorageDocument(roomId);
    await vi.waitFor(() => expect(alice.root().toJSON()).toEqual({}));
    expect(await serverJson(nodeA, roomId)).toEqual({});
  });

  it(
    `converges under random concurrent edits split over both nodes (${RUNS} runs)`,
    async () => {
      await fc.assert(
        fc.asyncProperty(actionSequences(MAX_ACTIONS), (actions) =>
          runStorageSequence([nodeA, nodeB], actions),
        ),
        { seed: 7_001, numRuns: RUNS, endOnFailure: true },
      );
    },
    60_000 + RUNS * 20_000,
  );
});
