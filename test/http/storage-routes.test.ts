import { LiveblocksError } from '@liveblocks/node';
import { describe, expect, it } from 'vitest';

import { liveblocksSocketUrl, mintIdToken, openRawSocket } from '../support/clients.js';
import { createRoom, sdk, uniqueRoomId, type NodeAddress } from '../support/live-session.js';
import { startNode } from '../support/start-node.js';

const DOCUMENT = {
  liveblocksType: 'LiveObject',
  data: {
    title: 'plan',
    list: {
      liveblocksType: 'LiveList',
      data: [1, { liveblocksType: 'LiveObject', data: { done: false } }],
    },
    map: { liveblocksType: 'LiveMap', data: { k: { liveblocksType: 'LiveList', data: ['x'] } } },
  },
} as const;

function call(node: NodeAddress, method: string, path: string, body?: string) {
  return fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${node.secret}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body,
  });
}

const storagePath = (roomId: string) => `/v2/rooms/${encodeURIComponent(roomId)}/storage`;

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

describe('storage REST routes', () => {
  it('reads a room without Storage as an empty root in both formats', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    expect(await sdk(node).getStorageDocument(roomId)).toEqual({
      liveblocksType: 'LiveObject',
      data: {},
    });
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({});
  });

  it('initializes Storage from plain LSON and reads it back as plain LSON and as JSON', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    const answer = await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);

    expect(answer).toEqual(DOCUMENT);
    expect(await sdk(node).getStorageDocument(roomId, 'plain-lson')).toEqual(DOCUMENT);
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({
      title: 'plan',
      list: [1, { done: false }],
      map: { k: ['x'] },
    });
    // No format reads as plain LSON, as Liveblocks does.
    expect(await (await call(node, 'GET', storagePath(roomId))).json()).toEqual(DOCUMENT);
  });

  it('refuses to initialize Storage that has keys with 409 CANNOT_UPDATE_EXISTING_STORAGE', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);

    const error = await failure(
      sdk(node).initializeStorageDocument(roomId, {
        liveblocksType: 'LiveObject',
        data: { other: 1 },
      }),
    );
    const response = await call(
      node,
      'POST',
      storagePath(roomId),
      JSON.stringify({ liveblocksType: 'LiveObject', data: {} }),
    );

    expect(error.status).toBe(409);
    expect(response.status).toBe(409);
    expect(((await response.json()) as { error: string }).error).toBe(
      'CANNOT_UPDATE_EXISTING_STORAGE',
    );
    expect(await sdk(node).getStorageDocument(roomId)).toEqual(DOCUMENT);
  });

  it('deletes Storage with 204, after which it can be initialized again', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);

    const response = await call(node, 'DELETE', storagePath(roomId));

    expect(response.status).toBe(204);
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({});
    await sdk(node).initializeStorageDocument(roomId, {
      liveblocksType: 'LiveObject',
      data: { again: true },
    });
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({ again: true });
  });

  it('answers 422 for a body that is not plain LSON and writes nothing', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    for (const body of [
      '[1]',
      '{"liveblocksType":"LiveMap","data":{}}',
      '{"liveblocksType":"LiveObject","data":{"t":{"liveblocksType":"LiveText","data":""}}}',
      '{"liveblocksType":"LiveObject","data":{"l":{"liveblocksType":"LiveList","data":{}}}}',
    ]) {
      const response = await call(node, 'POST', storagePath(roomId), body);
      expect(response.status, body).toBe(422);
      expect(((await response.json()) as { error: string }).error).toBe('UNPROCESSABLE_ENTITY');
    }
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({});
  });

  it('applies a JSON Patch in order and answers 200', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);

    const response = await call(
      node,
      'PATCH',
      `${storagePath(roomId)}/json-patch`,
      JSON.stringify([
        { op: 'replace', path: '/title', value: 'done' },
        { op: 'add', path: '/list/-', value: { done: true } },
        { op: 'move', from: '/map/k', path: '/moved' },
      ]),
    );

    expect(response.status).toBe(200);
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({
      title: 'done',
      list: [1, { done: false }, { done: true }],
      map: {},
      moved: ['x'],
    });
    const lson = (await sdk(node).getStorageDocument(roomId)) as unknown as {
      data: { moved: { liveblocksType: string } };
    };
    expect(lson.data.moved.liveblocksType).toBe('LiveList');
  });

  it('answers 422 naming the failed operation, and applies none of the patch', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);

    const failed = await call(
      node,
      'PATCH',
      `${storagePath(roomId)}/json-patch`,
      JSON.stringify([
        { op: 'add', path: '/added', value: 1 },
        { op: 'test', path: '/title', value: 'other' },
      ]),
    );
    const notArray = await call(node, 'PATCH', `${storagePath(roomId)}/json-patch`, '{}');

    expect(failed.status).toBe(422);
    expect(await failed.json()).toEqual({
      error: 'UNPROCESSABLE_ENTITY',
      message: expect.stringContaining('operation 1: test failed') as string,
    });
    expect(notArray.status).toBe(422);
    expect(await sdk(node).getStorageDocument(roomId)).toEqual(DOCUMENT);
  });

  it('takes a patch sent as application/json-patch+json', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    const response = await fetch(`${node.url}${storagePath(roomId)}/json-patch`, {
      method: 'PATCH',
      headers: {
        authorization: `Bearer ${node.secret}`,
        'content-type': 'application/json-patch+json',
      },
      body: JSON.stringify([{ op: 'add', path: '/a', value: 1 }]),
    });

    expect(response.status).toBe(200);
    expect(await sdk(node).getStorageDocument(roomId, 'json')).toEqual({ a: 1 });
  });

  it('answers 404 ROOM_NOT_FOUND for each route of a room that does not exist', async () => {
    const node = await startNode();

    for (const [method, suffix, body] of [
      ['GET', '', undefined],
      ['POST', '', JSON.stringify(DOCUMENT)],
      ['DELETE', '', undefined],
      ['PATCH', '/json-patch', '[]'],
    ] as const) {
      const response = await call(node, method, `${storagePath('missing')}${suffix}`, body);
      expect(response.status, method).toBe(404);
      expect(((await response.json()) as { error: string }).error).toBe('ROOM_NOT_FOUND');
    }
  });

  it('names the nodes it creates with an actor no connection of the room ever gets', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const before = openRawSocket(
      liveblocksSocketUrl(node, '/v7', roomId, await mintIdToken(node, 'before')),
    );
    const first = await before.waitForMessage((message) => message.type === 104);

    await sdk(node).initializeStorageDocument(roomId, DOCUMENT as never);
    const after = openRawSocket(
      liveblocksSocketUrl(node, '/v7', roomId, await mintIdToken(node, 'after')),
    );
    const second = await after.waitForMessage((message) => message.type === 104);
    after.sendMessages({ type: 200 });
    const state = await after.waitForMessage((message) => message.type === 200);

    const actors = new Set(
      (state.items as Array<[string, unknown]>)
        .map(([id]) => id)
        .filter((id) => id !== 'root')
        .map((id) => Number(id.split(':')[0])),
    );
    expect(actors.size).toBe(1);
    const [restActor] = [...actors];
    expect(restActor).toBeGreaterThan(first.actor as number);
    expect(restActor).toBeLessThan(second.actor as number);
  });
});
