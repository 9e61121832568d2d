import { describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import { startNode } from '../support/start-node.js';
import {
  createRoom,
  enter,
  sdk,
  uniqueRoomId,
  waitForStatus,
  yjsProvider,
} from '../support/live-session.js';

async function synced(provider: { synced: boolean; getStatus(): string }) {
  await vi.waitFor(() => {
    expect(provider.synced).toBe(true);
    expect(provider.getStatus()).toBe('synchronized');
  });
}

describe('@liveblocks/yjs through Weft', () => {
  it('reports "synced" and "synchronized" on an empty room', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'alice');

    const provider = yjsProvider(room);

    await synced(provider);
  });

  it('makes two documents converge, and a late joiner receives the whole document', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice');
    const bob = enter(node, roomId, 'bob');
    const aliceDoc = new Y.Doc();
    const bobDoc = new Y.Doc();
    const aliceProvider = yjsProvider(alice.room, aliceDoc);
    const bobProvider = yjsProvider(bob.room, bobDoc);
    await synced(aliceProvider);
    await synced(bobProvider);

    aliceDoc.getText('text').insert(0, 'Hello ');
    bobDoc.getMap('map').set('answer', 42);
    await vi.waitFor(() => expect(bobDoc.getText('text').toString()).toBe('Hello '));
    bobDoc.getText('text').insert(6, 'world');
    await vi.waitFor(() => expect(aliceDoc.getText('text').toString()).toBe('Hello world'));
    expect(aliceDoc.getMap('map').get('answer')).toBe(42);
    await synced(aliceProvider);
    await synced(bobProvider);

    const carol = enter(node, roomId, 'carol');
    const carolDoc = new Y.Doc();
    const carolProvider = yjsProvider(carol.room, carolDoc);
    await synced(carolProvider);
    expect(carolDoc.getText('text').toString()).toBe('Hello world');
    expect(carolDoc.getMap('map').get('answer')).toBe(42);
  });

  it('sends a document edited offline to the server when the client joins', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const doc = new Y.Doc();
    doc.getArray('list').push(['written before joining']);

    const { room } = enter(node, roomId, 'alice');
    const provider = yjsProvider(room, doc);
    await synced(provider);

    const stored = new Y.Doc();
    await vi.waitFor(async () => {
      const bytes = await sdk(node).getYjsDocumentAsBinaryUpdate(roomId);
      Y.applyUpdate(stored, new Uint8Array(bytes));
      expect(stored.getArray('list').toArray()).toEqual(['written before joining']);
    });
  });

  it('syncs with the v2 encoding and between v1 and v2 clients', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const v2 = enter(node, roomId, 'alice');
    const v1 = enter(node, roomId, 'bob');
    const v2Doc = new Y.Doc();
    const v1Doc = new Y.Doc();
    const v2Provider = yjsProvider(v2.room, v2Doc, { useV2Encoding_experimental: true });
    const v1Provider = yjsProvider(v1.room, v1Doc);
    await synced(v2Provider);
    await synced(v1Provider);

    v2Doc.getText('t').insert(0, 'from v2');
    await vi.waitFor(() => expect(v1Doc.getText('t').toString()).toBe('from v2'));
    v1Doc.getText('t').insert(0, 'v1 and ');
    await vi.waitFor(() => expect(v2Doc.getText('t').toString()).toBe('v1 and from v2'));
    await synced(v2Provider);
    await synced(v1Provider);
  });

  it('syncs sub-documents by guid, apart from the root document', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice');
    const bob = enter(node, roomId, 'bob');
    const aliceDoc = new Y.Doc();
    const bobDoc = new Y.Doc();
    const aliceProvider = yjsProvider(alice.room, aliceDoc);
    const bobProvider = yjsProvider(bob.room, bobDoc);
    await synced(aliceProvider);
    await synced(bobProvider);

    const sub = new Y.Doc({ guid: 'chapter-1' });
    aliceDoc.getMap('chapters').set('one', sub);
    sub.getText('body').insert(0, 'It was a dark and stormy night');
    await vi.waitFor(() => expect(bobDoc.getMap('chapters').get('one')).toBeInstanceOf(Y.Doc));
    const bobSub = bobDoc.getMap('chapters').get('one') as Y.Doc;
    bobSub.load();

    await vi.waitFor(() =>
      expect(bobSub.getText('body').toString()).toBe('It was a dark and stormy night'),
    );
    const rootOnly = new Y.Doc();
    Y.applyUpdate(rootOnly, new Uint8Array(await sdk(node).getYjsDocumentAsBinaryUpdate(roomId)));
    expect(rootOnly.getText('body').toString()).toBe('');
    const subOnly = new Y.Doc();
    Y.applyUpdate(
      subOnly,
      new Uint8Array(await sdk(node).getYjsDocumentAsBinaryUpdate(roomId, { guid: 'chapter-1' })),
    );
    expect(subOnly.getText('body').toString()).toBe('It was a dark and stormy night');
    await waitForStatus(bob.room, 'connected');
  });

  it('shows other users through Yjs awareness carried in presence', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const alice = enter(node, roomId, 'alice');
    const bob = enter(node, roomId, 'bob');
    const aliceProvider = yjsProvider(alice.room);
    const bobProvider = yjsProvider(bob.room);
    await synced(aliceProvider);
    await synced(bobProvider);

    aliceProvider.awareness.setLocalStateField('cursor', { anchor: 3 });

    await vi.waitFor(() =>
      expect([...bobProvider.awareness.getStates().values()]).toContainEqual({
        cursor: { anchor: 3 },
      }),
    );
  });
});
