import { LiveList, LiveMap, LiveObject, type Lson } from '@liveblocks/client';
import { LiveblocksError } from '@liveblocks/node';
import { describe, expect, it, vi } from 'vitest';

import { createRoom, sdk, uniqueRoomId, type NodeAddress } from '../support/live-session.js';
import { startNode } from '../support/start-node.js';
import { enterStorageRoom, serverJson, waitForConvergence } from '../support/storage-clients.js';

const DOCUMENT = {
  liveblocksType: 'LiveObject',
  data: {
    title: 'plan',
    list: {
      liveblocksType: 'LiveList',
      data: ['a', { liveblocksType: 'LiveObject', data: { done: false } }],
    },
    map: { liveblocksType: 'LiveMap', data: { k: { liveblocksType: 'LiveList', data: ['x'] } } },
  },
} as const;

function post(node: NodeAddress, roomId: string, endpoint: string, body: string) {
  return fetch(`${node.url}/v2/rooms/${encodeURIComponent(roomId)}/${endpoint}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
    body,
  });
}

async function roomWithStorage(node: NodeAddress, metadata?: Record<string, string>) {
  const roomId = uniqueRoomId();
  if (metadata) {
    await sdk(node).createRoom(roomId, { defaultAccesses: ['room:write'], metadata });
  } else {
    await createRoom(node, roomId);
  }
  await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);
  return roomId;
}

/** The error a `@liveblocks/node` call failed with. */
async function failure(call: Promise<unknown>): Promise<LiveblocksError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof LiveblocksError) return error;
    throw error;
  }
  throw new Error('the call succeeded');
}

describe('storage mutation routes', () => {
  it('applies mutateStorage changes to LiveObject, LiveList and LiveMap, seen by a connected client and by GET storage', async () => {
    const node = await startNode();
    const roomId = await roomWithStorage(node);
    const watcher = await enterStorageRoom(node, roomId, 'watcher');

    await sdk(node).mutateStorage(roomId, ({ root }) => {
      const storage = root as unknown as LiveObject<Record<string, never>>;
      storage.set('title', 'done' as never);
      const list = storage.get('list') as unknown as LiveList<Lson>;
      list.push('b');
      (list.get(1) as LiveObject<{ done: boolean }>).set('done', true);
      const map = storage.get('map') as unknown as LiveMap<string, Lson>;
      map.set('n', new LiveObject({ nested: new LiveList([1, 2]) }));
      map.delete('k');
    });

    const expected = {
      title: 'done',
      list: ['a', { done: true }, 'b'],
      map: { n: { nested: [1, 2] } },
    };
    expect(await serverJson(node, roomId)).toEqual(expected);
    await vi.waitFor(() => expect(watcher.root().toJSON()).toEqual(expected), { timeout: 10_000 });
    // The nodes the SDK made stay editable by the client.
    const nested = (watcher.root().get('map') as LiveMap<string, LiveObject<never>>)
      .get('n')!
      .get('nested') as unknown as LiveList<number>;
    nested.push(3);
    const converged = await waitForConvergence(node, roomId, [watcher]);
    expect(converged).toEqual({ ...expected, map: { n: { nested: [1, 2, 3] } } });
  });

  it('gives every session a fresh actor and streams the storage as v7 items in NDJSON', async () => {
    const node = await startNode();
    const roomId = await roomWithStorage(node);

    const first = await post(node, roomId, 'request-storage-mutation', '{}');
    const second = await post(node, roomId, 'request-storage-mutation', '{}');

    expect(first.headers.get('content-type')).toBe('application/x-ndjson');
    const lines = (await first.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const other = JSON.parse((await second.text()).split('\n')[0]!) as { actor: number };
    expect(typeof lines[0].actor).toBe('number');
    expect(other.actor).not.toBe(lines[0].actor);
    expect(lines[1]).toEqual(['root', { type: 0, data: { title: 'plan' } }]);
    // The actor, then root, list, its register and object, map, its list and register.
    expect(lines).toHaveLength(8);
    for (const [id, node] of lines.slice(2)) {
      expect(id).toMatch(/^\d+:\d+$/);
      expect(typeof node.parentId).toBe('string');
    }
  });

  it('streams a tree larger than one chunk whole', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const words = Array.from({ length: 3_000 }, (_, index) => `word ${index} `.padEnd(60, '.'));
    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { words: { liveblocksType: 'LiveList', data: words } },
    } as never);

    await sdk(node).mutateStorage(roomId, ({ root }) => {
      const list = root.get('words') as unknown as LiveList<string>;
      expect(list.toJSON()).toEqual(words);
      list.delete(0);
    });

    expect(await serverJson(node, roomId)).toEqual({ words: words.slice(1) });
  });

  it('applies a mutation whose ops arrive in several debounced batches', async () => {
    const node = await startNode();
    const roomId = await roomWithStorage(node);
    const watcher = await enterStorageRoom(node, roomId, 'watcher');

    await sdk(node).mutateStorage(roomId, async ({ root }) => {
      const list = root.get('list') as unknown as LiveList<Lson>;
      for (let round = 0; round < 3; round += 1) {
        list.push(`r${round}`);
        // Past the SDK's 200 ms debounce, so that each round is its own send-message.
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });

    expect(await serverJson(node, roomId)).toMatchObject({
      list: ['a', { done: false }, 'r0', 'r1', 'r2'],
    });
    await waitForConvergence(node, roomId, [watcher]);
  });

  it('runs massMutateStorage over the rooms that match the criteria only', async () => {
    const node = await startNode();
    const batch = `b${Date.now()}`;
    const first = await roomWithStorage(node, { batch });
    const second = await roomWithStorage(node, { batch });
    const untouched = await roomWithStorage(node, { batch: 'other' });
    const watcher = await enterStorageRoom(node, second, 'watcher');

    const seen: string[] = [];
    await sdk(node).massMutateStorage({ query: { metadata: { batch } } }, ({ room, root }) => {
      seen.push(room.id);
      root.set('title', `migrated ${room.id}` as never);
    });

    expect(seen.sort()).toEqual([first, second].sort());
    expect(await serverJson(node, first)).toMatchObject({ title: `migrated ${first}` });
    expect(await serverJson(node, second)).toMatchObject({ title: `migrated ${second}` });
    expect(await serverJson(node, untouched)).toMatchObject({ title: 'plan' });
    await vi.waitFor(() => expect(watcher.root().get('title')).toBe(`migrated ${second}`), {
      timeout: 10_000,
    });
  });

  it('answers 404 for a room that does not exist, on both routes', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();

    const error = await failure(sdk(node).mutateStorage(roomId, () => {}));
    const send = await post(node, roomId, 'send-message', '{"messages":[]}');

    expect(error.status).toBe(404);
    expect(send.status).toBe(404);
  });

  it('refuses a send-message body that is not UPDATE_STORAGE messages with valid ops with 422 and writes nothing', async () => {
    const node = await startNode();
    const roomId = await roomWithStorage(node);
    const set = { type: 3, id: 'root', data: { title: 'hacked' }, opId: '9:0' };

    const cases: Array<[string, string | RegExp]> = [
      ['{}', /messages/],
      ['{"messages":{}}', /messages/],
      [
        JSON.stringify({
          messages: [
            { type: 100, data: {} },
            { type: 201, ops: [set] },
          ],
        }),
        /100/,
      ],
      [JSON.stringify({ messages: [{ type: 201, ops: [set] }, { type: 'x' }] }), /"x"/],
      [JSON.stringify({ messages: [{ type: 201, ops: 'nope' }] }), /invalid ops/],
      [JSON.stringify({ messages: [{ type: 201, ops: [{ type: 3 }] }] }), /invalid ops/],
    ];
    for (const [body, reason] of cases) {
      const response = await post(node, roomId, 'send-message', body);
      expect(response.status, body).toBe(422);
      const answer = (await response.json()) as { error: string; message: string };
      expect(answer.error, body).toBe('UNPROCESSABLE_ENTITY');
      expect(answer.message, body).toMatch(reason);
    }
    expect(await serverJson(node, roomId)).toMatchObject({ title: 'plan' });
  });
});
