import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  enterRoom,
  mintAccessToken,
  openLiveblocksYjs,
  type NodeAddress,
} from '../support/clients.js';
import { startRedisServer } from '../support/redis-server.js';
import { startNode, type TestNode } from '../support/start-node.js';

/**
 * Two nodes in one process, sharing a database and a Redis server (REDIS_URL set, so each runs
 * a RedisBus): clients of one room on different nodes see each other and converge.
 */

let nodeA: TestNode;
let nodeB: TestNode;
let redisUrl: string;
let databaseUrl: string;
let sharedDir: string | undefined;
let roomCount = 0;

// At file level: an afterAll registered inside beforeAll would never run.
afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
  if (sharedDir) fs.rmSync(sharedDir, { recursive: true, force: true });
});

beforeAll(async () => {
  const redis = await startRedisServer();
  sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-shared-db-'));
  redisUrl = redis.url;
  databaseUrl = `sqlite:${path.join(sharedDir, 'weft.db')}`;
  const shared = { REDIS_URL: redisUrl, DATABASE_URL: databaseUrl };
  nodeA = await startNode({ ...shared, NODE_ID: 'node-a', LOG_LEVEL: 'warn' });
  nodeB = await startNode({ ...shared, NODE_ID: 'node-b', LOG_LEVEL: 'warn' });
});

describe('two nodes over one Redis', () => {
  it('runs a RedisBus on each node when REDIS_URL is set', () => {
    expect(nodeA.bus.constructor.name).toBe('RedisBus');
    expect(nodeA.bus.nodeId).toBe('node-a');
    expect(nodeB.bus.nodeId).toBe('node-b');
  });

  it('shows presence and broadcast events across nodes', async () => {
    const roomId = newRoomId();
    const alice = await enterRoom(nodeA, roomId, {
      token: () => token(nodeA, 'alice'),
      initialPresence: { cursor: null },
    });
    const bob = await enterRoom(nodeB, roomId, {
      token: () => token(nodeB, 'bob'),
      initialPresence: { cursor: { x: 1, y: 2 } },
    });

    await vi.waitFor(() =>
      expect(alice.room.getOthers().map((other) => [other.id, other.presence])).toEqual([
        ['bob', { cursor: { x: 1, y: 2 } }],
      ]),
    );
    await vi.waitFor(() =>
      expect(bob.room.getOthers().map((other) => other.id)).toEqual(['alice']),
    );
    const events: unknown[] = [];
    bob.room.subscribe('event', ({ event }) => events.push(event));
    alice.room.broadcastEvent({ kind: 'wave' } as never);
    await vi.waitFor(() => expect(events).toEqual([{ kind: 'wave' }]));
  });

  it("drops a user from the others' presence when that user's node shuts down", async () => {
    const roomId = newRoomId();
    const nodeC = await startNode({
      REDIS_URL: redisUrl,
      DATABASE_URL: databaseUrl,
      NODE_ID: 'node-c',
      LOG_LEVEL: 'warn',
    });
    const alice = await enterRoom(nodeA, roomId, { token: () => token(nodeA, 'alice') });
    await enterRoom(nodeC, roomId, { token: () => token(nodeC, 'carol') });
    await vi.waitFor(() =>
      expect(alice.room.getOthers().map((other) => other.id)).toEqual(['carol']),
    );

    await nodeC.close();

    await vi.waitFor(() => expect(alice.room.getOthers()).toEqual([]), { timeout: 5_000 });
  });

  it('converges a Yjs document edited on both nodes', async () => {
    const roomId = newRoomId();
    const alice = await openLiveblocksYjs(nodeA, roomId, { token: () => token(nodeA, 'alice') });
    const bob = await openLiveblocksYjs(nodeB, roomId, { token: () => token(nodeB, 'bob') });

    alice.doc.getText('t').insert(0, 'hello ');
    bob.doc.getText('t').insert(0, 'world ');

    await vi.waitFor(() => expect(alice.doc.getText('t').length).toBe(12));
    await vi.waitFor(() =>
      expect(bob.doc.getText('t').toString()).toBe(alice.doc.getText('t').toString()),
    );
  });
});

function newRoomId(): string {
  return `redis-nodes-${process.pid}-${++roomCount}`;
}

function token(node: NodeAddress, userId: string): Promise<string> {
  return mintAccessToken(node, userId);
}
