import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Room } from '@liveblocks/client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { enterRoom, mintAccessToken, restClient, type NodeAddress } from '../support/clients.js';
import { startRedisServer } from '../support/redis-server.js';
import { startNode, type TestNode } from '../support/start-node.js';

/**
 * Presence set through `POST /v2/rooms/{roomId}/presence` on one node reaches clients on
 * another: two nodes in one process sharing a database and a Redis server (each a RedisBus).
 */

let nodeA: TestNode;
let nodeB: TestNode;
let sharedDir: string | undefined;
let roomCount = 0;

afterAll(async () => {
  await Promise.all([nodeA?.close(), nodeB?.close()]);
  if (sharedDir) fs.rmSync(sharedDir, { recursive: true, force: true });
});

beforeAll(async () => {
  const redis = await startRedisServer();
  sharedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-timed-presence-'));
  const shared = {
    REDIS_URL: redis.url,
    DATABASE_URL: `sqlite:${path.join(sharedDir, 'weft.db')}`,
    LOG_LEVEL: 'warn',
  };
  nodeA = await startNode({ ...shared, NODE_ID: 'node-a' });
  nodeB = await startNode({ ...shared, NODE_ID: 'node-b' });
});

describe('REST presence across nodes', () => {
  it("shows a REST user set on one node to another node's client until its ttl passes", async () => {
    const roomId = await newRoom();
    const bob = await enterRoom(nodeB, roomId, { token: () => token(nodeB, 'bob') });

    await restClient(nodeA).setPresence(roomId, {
      userId: 'agent',
      data: { cursor: { x: 3 } },
      userInfo: { name: 'AI' },
      ttl: 2,
    });

    await vi.waitFor(() =>
      expect(others(bob.room)).toEqual([['agent', { name: 'AI' }, { cursor: { x: 3 } }]]),
    );
    const listedOnB = await restClient(nodeB).getActiveUsers(roomId);
    expect(listedOnB.data.map((user) => user.id).sort()).toEqual(['agent', 'bob']);
    await vi.waitFor(() => expect(bob.room.getOthers()).toEqual([]), { timeout: 5_000 });
  });

  it('keeps the connection id when the next call for the user reaches the other node', async () => {
    const roomId = await newRoom();
    const alice = await enterRoom(nodeA, roomId, { token: () => token(nodeA, 'alice') });
    const bob = await enterRoom(nodeB, roomId, { token: () => token(nodeB, 'bob') });
    await restClient(nodeA).setPresence(roomId, { userId: 'agent', data: { on: 'a' } });
    await vi.waitFor(() => expect(others(bob.room, 'agent')).toHaveLength(1));
    const first = agentConnection(bob.room);

    await restClient(nodeB).setPresence(roomId, { userId: 'agent', data: { on: 'b' } });

    for (const room of [alice.room, bob.room]) {
      await vi.waitFor(() =>
        expect(others(room, 'agent')).toEqual([['agent', undefined, { on: 'b' }]]),
      );
      expect(agentConnection(room)).toBe(first);
    }
  });

  it('tells a node that loads the room later about a REST user set before', async () => {
    const roomId = await newRoom();
    await restClient(nodeA).setPresence(roomId, { userId: 'agent', data: { early: true } });
    expect(nodeB.registry.get(roomId)).toBeUndefined();

    const bob = await enterRoom(nodeB, roomId, { token: () => token(nodeB, 'bob') });

    await vi.waitFor(() =>
      expect(others(bob.room)).toEqual([['agent', undefined, { early: true }]]),
    );
  });
});

async function newRoom(): Promise<string> {
  const roomId = `timed-presence-${process.pid}-${++roomCount}`;
  await restClient(nodeA).createRoom(roomId, { defaultAccesses: ['room:write'] });
  return roomId;
}

function token(node: NodeAddress, userId: string): Promise<string> {
  return mintAccessToken(node, userId);
}

/** Id, info and presence of the others a client lists, optionally of one user only. */
function others(room: Room, userId?: string) {
  return room
    .getOthers()
    .filter((other) => userId === undefined || other.id === userId)
    .map((other) => [other.id, other.info, other.presence]);
}

function agentConnection(room: Room): number {
  return room.getOthers().find((other) => other.id === 'agent')!.connectionId;
}
