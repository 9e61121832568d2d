import { describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import {
  createRoom,
  enter,
  idToken,
  rawSocket,
  sdk,
  socketUrl,
  uniqueRoomId,
  waitForStatus,
  yjsProvider,
  yWebsocket,
  type NodeAddress,
  type RawSocket,
} from '../support/live-session.js';
import { startNode } from '../support/start-node.js';

function call(node: NodeAddress, method: string, path: string, init: RequestInit = {}) {
  return fetch(`${node.url}${path}`, {
    method,
    ...init,
    headers: { authorization: `Bearer ${node.secret}`, ...(init.headers ?? {}) },
  });
}

const roomPath = (roomId: string) => `/v2/rooms/${encodeURIComponent(roomId)}`;

async function roomWithDocument(node: NodeAddress) {
  const roomId = uniqueRoomId();
  await createRoom(node, roomId);
  const doc = new Y.Doc();
  doc.getText('text').insert(0, 'hello');
  doc.getText('text').format(0, 2, { bold: true });
  doc.getMap('map').set('k', 1);
  doc.getArray('list').push([1, 'two']);
  const element = new Y.XmlElement('p');
  element.insert(0, [new Y.XmlText('x')]);
  doc.getXmlFragment('xml').insert(0, [element]);
  await sdk(node).sendYjsBinaryUpdate(roomId, Y.encodeStateAsUpdate(doc));
  return roomId;
}

describe('Yjs REST routes of a live room', () => {
  it('serves the document as JSON with each key read as its inferred type', async () => {
    const node = await startNode();
    const roomId = await roomWithDocument(node);

    expect(await sdk(node).getYjsDocument(roomId)).toEqual({
      text: 'hello',
      map: { k: 1 },
      list: [1, 'two'],
      xml: '<p>x</p>',
    });
  });

  it('narrows to one key, to its bare value with a type, and renders formatting', async () => {
    const node = await startNode();
    const roomId = await roomWithDocument(node);
    const rest = sdk(node);

    expect(await rest.getYjsDocument(roomId, { key: 'map' })).toEqual({ map: { k: 1 } });
    expect(await rest.getYjsDocument(roomId, { key: 'map', type: 'ymap' })).toEqual({ k: 1 });
    expect(await rest.getYjsDocument(roomId, { key: 'text', type: 'ytext' })).toBe('hello');
    expect(await rest.getYjsDocument(roomId, { key: 'text', format: true })).toEqual({
      text: [{ key: 'bold', value: true }, 'he', { key: 'bold', value: null }, 'llo'],
    });
    const mismatch = await call(node, 'GET', `${roomPath(roomId)}/ydoc?key=map&type=ytext`);
    expect(mismatch.status).toBe(422);
  });

  it('serves the root document and sub-documents as binary updates', async () => {
    const node = await startNode();
    const roomId = await roomWithDocument(node);
    const sub = new Y.Doc();
    sub.getText('body').insert(0, 'sub');
    await sdk(node).sendYjsBinaryUpdate(roomId, Y.encodeStateAsUpdate(sub), { guid: 'sub-1' });

    const root = new Y.Doc();
    Y.applyUpdate(root, new Uint8Array(await sdk(node).getYjsDocumentAsBinaryUpdate(roomId)));
    const subCopy = new Y.Doc();
    Y.applyUpdate(
      subCopy,
      new Uint8Array(await sdk(node).getYjsDocumentAsBinaryUpdate(roomId, { guid: 'sub-1' })),
    );
    const unknown = await call(node, 'GET', `${roomPath(roomId)}/ydoc-binary?guid=none`);

    expect(root.getText('text').toString()).toBe('hello');
    expect(root.getText('body').toString()).toBe('');
    expect(subCopy.getText('body').toString()).toBe('sub');
    expect(unknown.status).toBe(200);
    expect(unknown.headers.get('content-type')).toBe('application/octet-stream');
  });

  it('delivers a PUT update live to Liveblocks and y-websocket clients', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const lbDoc = new Y.Doc();
    const provider = yjsProvider(enter(node, roomId, 'alice').room, lbDoc);
    const ws = yWebsocket(node, roomId, await idToken(node, 'bob'));
    await vi.waitFor(() => expect(provider.synced && ws.synced).toBe(true));
    const update = new Y.Doc();
    update.getText('t').insert(0, 'from the backend');

    await sdk(node).sendYjsBinaryUpdate(roomId, Y.encodeStateAsUpdate(update));

    await vi.waitFor(() => expect(lbDoc.getText('t').toString()).toBe('from the backend'));
    await vi.waitFor(() => expect(ws.doc.getText('t').toString()).toBe('from the backend'));
  });

  it('accepts a v2 update with encoder=v2 and refuses unreadable updates with 422', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const doc = new Y.Doc();
    doc.getText('t').insert(0, 'v2');

    const v2 = await call(node, 'PUT', `${roomPath(roomId)}/ydoc?encoder=v2`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: Y.encodeStateAsUpdateV2(doc),
    });
    const garbage = await call(node, 'PUT', `${roomPath(roomId)}/ydoc`, {
      headers: { 'content-type': 'application/octet-stream' },
      body: new Uint8Array([1, 2, 3]),
    });

    expect(v2.status).toBe(200);
    expect(garbage.status).toBe(422);
    expect(await sdk(node).getYjsDocument(roomId)).toEqual({ t: 'v2' });
  });

  it('answers 404 for a room that does not exist', async () => {
    const node = await startNode();

    for (const [method, path] of [
      ['GET', '/ydoc'],
      ['GET', '/ydoc-binary'],
      ['GET', '/active-users'],
      ['POST', '/broadcast-event'],
    ] as const) {
      const response = await call(node, method, `${roomPath('missing')}${path}`, {
        ...(method === 'POST'
          ? { body: '{}', headers: { 'content-type': 'application/json' } }
          : {}),
      });
      expect(response.status, path).toBe(404);
    }
  });
});

describe('presence REST routes of a live room', () => {
  it('lists the users present under both spellings', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice');
    await waitForStatus(alice.room, 'connected');
    const ws = yWebsocket(node, roomId, await idToken(node, 'bob', { userInfo: { name: 'B' } }));
    await vi.waitFor(() => expect(ws.synced).toBe(true));

    const dashed = await sdk(node).getActiveUsers(roomId);
    const underscored = await (await call(node, 'GET', `${roomPath(roomId)}/active_users`)).json();

    expect(dashed.data).toEqual([
      { type: 'user', id: 'alice', connectionId: 1, info: { name: 'alice' } },
      { type: 'user', id: 'bob', connectionId: 2, info: { name: 'B' } },
    ]);
    expect(underscored).toEqual(dashed);
  });

  it('broadcasts an event from REST with connection id -1, under both spellings', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');
    const received: Array<[number, unknown]> = [];
    room.subscribe('event', ({ connectionId, event }) => received.push([connectionId, event]));

    await sdk(node).broadcastEvent(roomId, { n: 1 });
    const legacy = await call(node, 'POST', `${roomPath(roomId)}/broadcast_event`, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 2 }),
    });

    expect(legacy.status).toBe(204);
    await vi.waitFor(() =>
      expect(received).toEqual([
        [-1, { n: 1 }],
        [-1, { n: 2 }],
      ]),
    );
  });
});

describe('room changes reaching live connections', () => {
  it('closes the sockets of a deleted room so that clients stop retrying', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');
    const ws = yWebsocket(node, roomId, await idToken(node, 'bob'));
    await vi.waitFor(() => expect(ws.synced).toBe(true));
    const closes: number[] = [];
    ws.on('connection-close', (event) => closes.push(event?.code ?? 0));

    await sdk(node).deleteRoom(roomId);

    await waitForStatus(room, 'disconnected');
    await vi.waitFor(() => expect(closes).toContain(4002));
  });

  it('closes the sockets of a renamed room with 4006; the room lives on under its new id', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'alice')));
    await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));
    const update = new Y.Doc();
    update.getText('t').insert(0, 'kept');
    await sdk(node).sendYjsBinaryUpdate(roomId, Y.encodeStateAsUpdate(update));
    const newId = uniqueRoomId('renamed');

    await sdk(node).updateRoomId({ currentRoomId: roomId, newRoomId: newId });

    await vi.waitFor(() => expect(socket.close.code).toBe(4006));
    expect(await sdk(node).getYjsDocument(newId)).toEqual({ t: 'kept' });
  });

  it('re-checks permissions when accesses change: revoked closes 4001, changed closes 4100', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { defaultAccesses: [] });
    await sdk(node).updateRoom(roomId, {
      usersAccesses: { writer: ['room:write'], revoked: ['room:write'], kept: ['room:write'] },
    });
    const sockets: Record<string, RawSocket> = {};
    for (const user of ['writer', 'revoked', 'kept']) {
      sockets[user] = rawSocket(socketUrl(node, roomId, await idToken(node, user)));
    }
    for (const socket of Object.values(sockets)) {
      await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));
    }

    await sdk(node).updateRoom(roomId, {
      usersAccesses: { writer: ['room:read', 'room:presence:write'], revoked: null },
    });

    await vi.waitFor(() => expect(sockets.revoked!.close.code).toBe(4001));
    await vi.waitFor(() => expect(sockets.writer!.close.code).toBe(4100));
    expect(sockets.kept!.close.code).toBeUndefined();
  });
});

describe('prewarming a room', () => {
  it('loads the room into memory on the node the SDK called', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    expect(node.registry.get(roomId)).toBeUndefined();

    await sdk(node).prewarmRoom(roomId);

    expect(node.registry.get(roomId)?.state).toBe('ready');
  });

  it('answers 404 through the SDK for a room that does not exist', async () => {
    const node = await startNode();

    await expect(sdk(node).prewarmRoom('missing')).rejects.toMatchObject({ status: 404 });
    expect(node.registry.get('missing')).toBeUndefined();
  });
});

describe('presence set from the back end', () => {
  /** The others a client lists, in short. */
  const othersOf = (room: ReturnType<typeof enter>['room']) =>
    room.getOthers().map((other) => ({
      id: other.id,
      info: other.info,
      presence: other.presence,
      connectionId: other.connectionId,
    }));

  it('shows a connected client the REST user with its info and presence until the ttl passes', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice', { initialPresence: { cursor: null } });
    await waitForStatus(room, 'connected');
    const events: string[] = [];
    room.subscribe('others', (_others, event) => events.push(event.type));

    await sdk(node).setPresence(roomId, {
      userId: 'agent',
      data: { cursor: { x: 1, y: 2 } },
      userInfo: { name: 'AI agent', color: '#f00' },
      ttl: 2,
    });

    await vi.waitFor(() =>
      expect(othersOf(room)).toEqual([
        {
          id: 'agent',
          info: { name: 'AI agent', color: '#f00' },
          presence: { cursor: { x: 1, y: 2 } },
          connectionId: expect.any(Number),
        },
      ]),
    );
    const connectionId = room.getOthers()[0]!.connectionId;
    expect(connectionId).not.toBe(room.getSelf()!.connectionId);
    expect((await sdk(node).getActiveUsers(roomId)).data).toContainEqual({
      type: 'user',
      id: 'agent',
      connectionId,
      info: { name: 'AI agent', color: '#f00' },
    });

    await vi.waitFor(() => expect(room.getOthers()).toEqual([]), { timeout: 5_000 });
    expect(events).toContain('leave');
    expect((await sdk(node).getActiveUsers(roomId)).data.map((user) => user.id)).toEqual(['alice']);
  });

  it('keeps the connection id of a living REST user and sends clients its new presence', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');

    await sdk(node).setPresence(roomId, { userId: 'agent', data: { step: 1 } });
    await vi.waitFor(() => expect(othersOf(room)[0]?.presence).toEqual({ step: 1 }));
    const first = room.getOthers()[0]!.connectionId;
    await sdk(node).setPresence(roomId, { userId: 'agent', data: { step: 2 } });

    await vi.waitFor(() => expect(othersOf(room)[0]?.presence).toEqual({ step: 2 }));
    expect(othersOf(room)).toHaveLength(1);
    expect(room.getOthers()[0]!.connectionId).toBe(first);
  });

  it('sends a client that joins later the REST user in ROOM_STATE and its presence', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    await sdk(node).setPresence(roomId, {
      userId: 'agent',
      data: { typing: true },
      userInfo: { name: 'Bot' },
    });

    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'alice')));
    const { room } = enter(node, roomId, 'bob');
    await waitForStatus(room, 'connected');

    await vi.waitFor(() =>
      expect(othersOf(room)).toContainEqual({
        id: 'agent',
        info: { name: 'Bot' },
        presence: { typing: true },
        connectionId: expect.any(Number),
      }),
    );
    await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));
    const roomState = socket.messages[0] as unknown as { users: Record<string, { id: string }> };
    expect(Object.values(roomState.users).map((user) => user.id)).toContain('agent');
  });

  it('holds the room with its REST user when no client is connected', async () => {
    const node = await startNode({ ROOM_IDLE_UNLOAD_MS: '10' });
    const held = uniqueRoomId();
    const idle = uniqueRoomId();
    await createRoom(node, held);
    await createRoom(node, idle);

    await sdk(node).setPresence(held, { userId: 'agent', data: {}, ttl: 60 });
    await sdk(node).prewarmRoom(idle);

    // The prewarmed room goes once idle; the one showing a REST user stays, with its user.
    await vi.waitFor(() => expect(node.registry.get(idle)).toBeUndefined());
    expect(node.registry.get(held)?.isIdle).toBe(false);
    const users = (await sdk(node).getActiveUsers(held)).data.map((user) => user.id);
    expect(users).toEqual(['agent']);
  });

  it('answers 404 through the SDK for a room that does not exist', async () => {
    const node = await startNode();

    await expect(
      sdk(node).setPresence('missing', { userId: 'agent', data: {} }),
    ).rejects.toMatchObject({ status: 404 });
  });

  it('refuses invalid bodies with 4xx and the Liveblocks error shape, showing nobody', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const cases: Array<[string | undefined, number]> = [
      [JSON.stringify({ data: {} }), 422],
      [JSON.stringify({ userId: '', data: {} }), 422],
      [JSON.stringify({ userId: 'u'.repeat(257), data: {} }), 422],
      [JSON.stringify({ userId: 7, data: {} }), 422],
      [JSON.stringify({ userId: 'agent' }), 422],
      [JSON.stringify({ userId: 'agent', data: null }), 422],
      [JSON.stringify({ userId: 'agent', data: [1] }), 422],
      [JSON.stringify({ userId: 'agent', data: 'x' }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, ttl: 1 }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, ttl: 3600 }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, ttl: 2.5 }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, ttl: '60' }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, userInfo: 'Bot' }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, userInfo: { name: 'x'.repeat(1100) } }), 422],
      [JSON.stringify({ userId: 'agent', data: {}, extra: 1 }), 422],
      [JSON.stringify([{ userId: 'agent', data: {} }]), 422],
      ['{"userId": "agent", "data": {', 400],
      [undefined, 422],
    ];

    for (const [body, status] of cases) {
      const response = await call(node, 'POST', `${roomPath(roomId)}/presence`, {
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      });
      expect(response.status, body).toBe(status);
      expect(await response.json(), body).toMatchObject({
        error: expect.any(String),
        message: expect.any(String),
      });
    }
    expect((await sdk(node).getActiveUsers(roomId)).data).toEqual([]);
  });

  it('accepts the ttl bounds 2 and 3599', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);

    await sdk(node).setPresence(roomId, { userId: 'short', data: {}, ttl: 2 });
    await sdk(node).setPresence(roomId, { userId: 'long', data: {}, ttl: 3599 });

    const ids = (await sdk(node).getActiveUsers(roomId)).data.map((user) => user.id);
    expect(ids.sort()).toEqual(['long', 'short']);
  });
});
