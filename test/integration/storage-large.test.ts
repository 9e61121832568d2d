import { LiveObject, type LiveList } from '@liveblocks/client';
import { describe, expect, it } from 'vitest';

import { liveblocksSocketUrl, mintIdToken, openRawSocket } from '../support/clients.js';
import { createRoom, sdk, uniqueRoomId } from '../support/live-session.js';
import { startNode } from '../support/start-node.js';
import { enterStorageRoom, waitForConvergence } from '../support/storage-clients.js';

/** Items of the list: each is a LiveObject holding a LiveMap holding one register. */
const ITEMS = 16_700;
/** Root, list, and three nodes per item. */
const NODES = 2 + ITEMS * 3;

const STORAGE_CHUNK = 210;
const STORAGE_STREAM_END = 211;

describe('a large Storage', () => {
  it(`of ${NODES} nodes loads in a fresh client, streamed in bounded chunks`, async ({
    annotate,
  }) => {
    // The document is posted in one REST call: its body is larger than the default limit.
    const node = await startNode({
      MAX_MESSAGE_BYTES: String(32 * 1024 * 1024),
      LOG_LEVEL: 'info',
    });
    const roomId = uniqueRoomId('large');
    await createRoom(node, roomId);
    const items = Array.from({ length: ITEMS }, (_, i) => ({
      liveblocksType: 'LiveObject',
      data: { i, tags: { liveblocksType: 'LiveMap', data: { k: `v${i}` } } },
    }));
    const postStarted = performance.now();
    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { list: { liveblocksType: 'LiveList', data: items } },
    } as never);
    const postMs = performance.now() - postStarted;

    const loadStarted = performance.now();
    const client = await enterStorageRoom(node, roomId, 'reader');
    const loadMs = performance.now() - loadStarted;

    const list = client.root().get('list') as LiveList<LiveObject<{ i: number }>>;
    expect(list.length).toBe(ITEMS);
    expect(list.get(ITEMS - 1)?.toJSON()).toEqual({ i: ITEMS - 1, tags: { k: `v${ITEMS - 1}` } });
    // The loaded nodes are live: an edit goes through and comes back acknowledged.
    list.get(0)!.set('i', -1);
    list.push(new LiveObject({ i: ITEMS }));
    await waitForConvergence(node, roomId, [client], 30_000);

    const socket = openRawSocket(
      liveblocksSocketUrl(node, '/v8', roomId, await mintIdToken(node, 'raw')),
    );
    await socket.waitForMessage((message) => message.type === 104);
    socket.sendMessages({ type: 200 });
    await socket.waitForMessage((message) => message.type === STORAGE_STREAM_END, 30_000);
    const chunks = socket.frames
      .map((frame) => frame.data as string)
      .filter((text) => text.startsWith(`{"type":${STORAGE_CHUNK},`));
    const largest = Math.max(...chunks.map((text) => Buffer.byteLength(text)));
    const nodes = chunks.reduce(
      (sum, text) => sum + (JSON.parse(text) as { nodes: unknown[] }).nodes.length,
      0,
    );
    expect(nodes).toBe(NODES + 1);
    expect(chunks.length).toBeGreaterThanOrEqual(Math.ceil(NODES / 1_000));
    expect(largest).toBeLessThanOrEqual(256 * 1024 + 64);

    await annotate(
      `${NODES} nodes: REST initialization ${Math.round(postMs)} ms, fresh client ` +
        `getStorage() ${Math.round(loadMs)} ms, ${chunks.length} chunks, largest ${largest} bytes`,
    );
    expect(loadMs).toBeLessThan(20_000);
  }, 120_000);
});
