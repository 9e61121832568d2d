import { describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import {
  createRoom,
  idToken,
  rawSocket,
  sdk,
  socketUrl,
  uniqueRoomId,
  type NodeAddress,
} from '../support/live-session.js';
import { startNode } from '../support/start-node.js';

async function accessToken(
  node: NodeAddress,
  userId: string,
  allow: Record<string, string[]>,
  organizationId?: string,
): Promise<string> {
  const session = sdk(node).prepareSession(userId, organizationId ? { organizationId } : {});
  for (const [pattern, scopes] of Object.entries(allow)) session.allow(pattern, scopes as never);
  const response = await session.authorize();
  return (JSON.parse(response.body) as { token: string }).token;
}

const yUpdate = (text: string) => {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');
};

describe('joining a room', () => {
  it('closes with 4001 and a reason naming the organization when the token is of another one', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { organizationId: 'org-a' });
    await sdk(node).updateRoom(roomId, { usersAccesses: { mallory: ['room:write'] } });

    const socket = rawSocket(
      socketUrl(node, roomId, await idToken(node, 'mallory', { organizationId: 'org-b' })),
    );

    await vi.waitFor(() => expect(socket.close.code).toBe(4001));
    expect(socket.close.reason).toMatch(/organization/i);
    expect(socket.messages).toEqual([]);
  });

  it('treats an access token of another organization asking for an existing id as the mismatch', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { organizationId: 'org-a' });

    const socket = rawSocket(
      socketUrl(node, roomId, await accessToken(node, 'mallory', { '*': ['*:write'] }, 'org-b')),
    );

    await vi.waitFor(() => expect(socket.close.code).toBe(4001));
    expect(socket.close.reason).toMatch(/organization/i);
    expect((await sdk(node).getRoom(roomId)).organizationId).toBe('org-a');
  });

  it('lets an access token create a missing room in its own organization', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId('created');

    const socket = rawSocket(
      socketUrl(
        node,
        roomId,
        await accessToken(node, 'alice', { 'created*': ['*:write'] }, 'org-a'),
      ),
    );

    await vi.waitFor(() => expect(socket.messages.map((m) => m.type)).toContain(104));
    const room = await sdk(node).getRoom(roomId);
    expect(room.organizationId).toBe('org-a');
    expect(room.defaultAccesses).toEqual([]);
  });

  it('refuses an access token whose patterns do not cover the room, creating nothing', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId('elsewhere');

    const socket = rawSocket(
      socketUrl(node, roomId, await accessToken(node, 'alice', { 'mine*': ['*:write'] })),
    );

    await vi.waitFor(() => expect(socket.close.code).toBe(4001));
    await expect(sdk(node).getRoom(roomId)).rejects.toThrow();
  });

  it('refuses to create a room whose id the REST API would refuse', async () => {
    const node = await startNode();
    const roomId = `${uniqueRoomId()}*\u0007`;

    const socket = rawSocket(
      socketUrl(node, roomId, await accessToken(node, 'alice', { '*': ['*:write'] })),
    );

    await vi.waitFor(() => expect(socket.close.code).toBe(4000));
    expect(socket.close.reason).toMatch(/room id/);
    expect(socket.messages).toEqual([]);
    expect((await sdk(node).getRooms()).data.map((room) => room.id)).not.toContain(roomId);
  });

  it('refuses an ID token for a room that does not exist', async () => {
    const node = await startNode();

    const socket = rawSocket(socketUrl(node, uniqueRoomId(), await idToken(node, 'alice')));

    await vi.waitFor(() => expect(socket.close.code).toBe(4001));
    expect(socket.messages).toEqual([]);
  });

  it('sends ROOM_STATE with the scopes of a read-only user', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { defaultAccesses: ['room:read', 'room:presence:write'] });

    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'reader')));

    await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));
    expect(socket.messages[0]).toMatchObject({ scopes: ['*:read'], users: {}, meta: {} });
  });

  it('applies nowhere the Yjs updates a read-only socket sends, and logs them', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { defaultAccesses: ['room:read', 'room:presence:write'] });
    const reader = rawSocket(socketUrl(node, roomId, await idToken(node, 'reader')));
    await vi.waitFor(() => expect(reader.messages[0]?.type).toBe(104));
    reader.send({ type: 300, vector: '' });

    reader.send({ type: 301, update: yUpdate('forbidden') });
    reader.send({ type: 201, ops: [{ type: 3, id: 'root', opId: '1:0', data: { a: 1 } }] });

    await vi.waitFor(() =>
      expect(reader.messages.find((m) => m.type === 299)).toMatchObject({ opIds: ['1:0'] }),
    );
    const stored = new Y.Doc();
    Y.applyUpdate(stored, new Uint8Array(await sdk(node).getYjsDocumentAsBinaryUpdate(roomId)));
    expect(stored.getText('t').toString()).toBe('');
    const refusals = node.logs.filter(
      (record) => record.msg === 'write of a read-only connection refused',
    );
    expect(refusals.map((record) => record.kind)).toEqual(['yjs', 'storage']);
    expect(refusals[0]).toMatchObject({ user: 'reader', room: roomId, org: 'default' });
    expect(reader.messages.filter((m) => m.type === 300)).toHaveLength(1);
  });

  it('closes a socket that sends a malformed frame with 4000 and keeps serving the room', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const bad = rawSocket(socketUrl(node, roomId, await idToken(node, 'bad')));
    const good = rawSocket(socketUrl(node, roomId, await idToken(node, 'good')));
    await vi.waitFor(() => expect(bad.messages[0]?.type).toBe(104));

    bad.ws.send('{not json');

    await vi.waitFor(() => expect(bad.close.code).toBe(4000));
    await vi.waitFor(() => expect(good.messages.some((m) => m.type === 104)).toBe(true));
    good.send({ type: 301, update: 'AAECAw==' });
    await vi.waitFor(() => expect(good.close.code).toBe(4000));
    const fresh = rawSocket(socketUrl(node, roomId, await idToken(node, 'fresh')));
    await vi.waitFor(() => expect(fresh.messages[0]?.type).toBe(104));
  });

  it('answers FETCH_STORAGE over /v7 with an empty root in one STORAGE_STATE message', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'old'), '/v7'));
    await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));

    socket.send({ type: 200 });

    await vi.waitFor(() =>
      expect(socket.messages.find((m) => m.type === 200)).toEqual({
        type: 200,
        items: [['root', { type: 0, data: {} }]],
      }),
    );
  });
});
