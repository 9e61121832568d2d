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
