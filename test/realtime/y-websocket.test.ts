import { describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import { startNode } from '../support/start-node.js';
import {
  createRoom,
  enter,
  idToken,
  uniqueRoomId,
  yjsProvider,
  yWebsocket,
} from '../support/live-session.js';

describe('stock y-websocket on /y/{roomId}', () => {
  it('syncs text both ways with a @liveblocks/yjs client of the same room', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const yDoc = new Y.Doc();
    const lbDoc = new Y.Doc();
    const ws = yWebsocket(node, roomId, await idToken(node, 'yws-user'), yDoc);
    const lb = yjsProvider(enter(node, roomId, 'lb-user').room, lbDoc);
    await vi.waitFor(() => expect(ws.synced).toBe(true));
    await vi.waitFor(() => expect(lb.synced).toBe(true));

    yDoc.getText('t').insert(0, 'typed in y-websocket');
    await vi.waitFor(() => expect(lbDoc.getText('t').toString()).toBe('typed in y-websocket'));
    lbDoc.getText('t').insert(0, 'liveblocks, then ');
    await vi.waitFor(() =>
      expect(yDoc.getText('t').toString()).toBe('liveblocks, then typed in y-websocket'),
    );
    await vi.waitFor(() => expect(lb.getStatus()).toBe('synchronized'));
  });

  it('gives a late y-websocket joiner the whole document', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const first = new Y.Doc();
    const firstProvider = yWebsocket(node, roomId, await idToken(node, 'a'), first);
    await vi.waitFor(() => expect(firstProvider.synced).toBe(true));
    first.getArray('items').push(['one', 'two']);
    await vi.waitFor(async () => {
      const state = await fetch(`${node.url}/v2/rooms/${encodeURIComponent(roomId)}/ydoc`, {
        headers: { authorization: `Bearer ${node.secret}` },
      });
      expect(await state.json()).toEqual({ items: ['one', 'two'] });
    });

    const late = new Y.Doc();
    const lateProvider = yWebsocket(node, roomId, await idToken(node, 'b'), late);

    await vi.waitFor(() => expect(lateProvider.synced).toBe(true));
    expect(late.getArray('items').toArray()).toEqual(['one', 'two']);
  });

  it('shares awareness between y-websocket and Liveblocks clients', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const ws = yWebsocket(node, roomId, await idToken(node, 'yws-user'));
    const lbRoom = enter(node, roomId, 'lb-user').room;
    const lb = yjsProvider(lbRoom);
    await vi.waitFor(() => expect(ws.synced && lb.synced).toBe(true));

    ws.awareness.setLocalStateField('user', { name: 'from y-websocket' });
    lb.awareness.setLocalStateField('user', { name: 'from liveblocks' });

    await vi.waitFor(() =>
      expect([...lb.awareness.getStates().values()]).toContainEqual({
        user: { name: 'from y-websocket' },
      }),
    );
    await vi.waitFor(() =>
      expect([...ws.awareness.getStates().values()]).toContainEqual({
        user: { name: 'from liveblocks' },
      }),
    );
    expect(lbRoom.getOthers().map((other) => other.id)).toEqual(['yws-user']);
  });

  it('removes a departed Liveblocks user from y-websocket awareness', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const ws = yWebsocket(node, roomId, await idToken(node, 'yws-user'));
    const lbRoom = enter(node, roomId, 'lb-user').room;
    const lb = yjsProvider(lbRoom);
    await vi.waitFor(() => expect(ws.synced && lb.synced).toBe(true));
    lb.awareness.setLocalStateField('user', { name: 'leaving' });
    await vi.waitFor(() => expect(ws.awareness.getStates().size).toBe(2));

    lbRoom.disconnect();

    await vi.waitFor(() => expect([...ws.awareness.getStates().keys()]).toEqual([ws.doc.clientID]));
  });
});
