import net from 'node:net';

import { beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';

import {
  CLIENT_MSG,
  SERVER_MSG,
  describe as describeSocket,
  enterRoom,
  fetchRoomDoc,
  liveblocksSocketUrl,
  mintIdToken,
  openLiveblocksYjs,
  openRawSocket,
  openYWebsocket,
  recordUpgrades,
  restClient,
  yjsSocketUrl,
  type NodeAddress,
  type RawSocket,
} from '../support/clients.js';
import { startNode, type TestNode } from '../support/start-node.js';

/**
 * The official clients against one node: `@liveblocks/client` (presence, joins and leaves,
 * broadcast, reconnection), `@liveblocks/yjs`, stock `y-websocket`, the REST routes of live
 * rooms, and the socket limits.
 */

const ORG = 'acme';

let node: TestNode;

beforeAll(async () => {
  node = await startNode();
});

describe('@liveblocks/client', () => {
  it('reaches "connected" over /v8 and knows who it is', async () => {
    const roomId = await room('client-connect');

    const alice = await enterRoom(node, roomId, {
      token: () => token('alice', { name: 'Alice' }),
    });

    expect(alice.socketUrls[0]).toContain('/v8?roomId=client-connect');
    expect(alice.room.getSelf()).toMatchObject({
      id: 'alice',
      info: { name: 'Alice' },
      canWrite: true,
    });
  });

  it('sees the presence of others and their updates', async () => {
    const roomId = await room('client-presence');
    const alice = await enterRoom(node, roomId, {
      token: () => token('alice'),
      initialPresence: { cursor: null },
    });
    const bob = await enterRoom(node, roomId, {
      token: () => token('bob', { name: 'Bob' }),
      initialPresence: { cursor: { x: 1, y: 1 } },
    });

    await vi.waitFor(() =>
      expect(alice.room.getOthers()).toEqual([
        expect.objectContaining({
          id: 'bob',
          info: { name: 'Bob' },
          presence: { cursor: { x: 1, y: 1 } },
        }),
      ]),
    );
    bob.room.updatePresence({ cursor: { x: 7, y: 9 } });
    await vi.waitFor(() =>
      expect(alice.room.getOthers()[0]?.presence).toEqual({ cursor: { x: 7, y: 9 } }),
    );
    await vi.waitFor(() =>
      expect(bob.room.getOthers().map((other) => other.presence)).toEqual([{ cursor: null }]),
    );
  });

  it('reports users joining and leaving through the others subscription', async () => {
    const roomId = await room('client-join-leave');
    const alice = await enterRoom(node, roomId, { token: () => token('alice') });
    const events: { type: string; id?: string }[] = [];
    alice.room.subscribe('others', (_others, event) => {
      events.push({ type: event.type, id: 'user' in event ? event.user.id : undefined });
    });

    const bob = await enterRoom(node, roomId, {
      token: () => token('bob'),
      initialPresence: { here: true },
    });
    await vi.waitFor(() => expect(events).toContainEqual({ type: 'enter', id: 'bob' }));

    bob.room.disconnect();
    await vi.waitFor(() => expect(events).toContainEqual({ type: 'leave', id: 'bob' }));
    expect(alice.room.getOthers()).toEqual([]);
  });

  it('delivers broadcast events with the sender’s connection id', async () => {
    const roomId = await room('client-broadcast');
    const alice = await enterRoom(node, roomId, { token: () => token('alice') });
    const bob = await enterRoom(node, roomId, { token: () => token('bob') });
    const received: { event: unknown; connectionId: number }[] = [];
    alice.room.subscribe('event', ({ event, connectionId }) => {
      received.push({ event, connectionId });
    });
    const bobEvents: unknown[] = [];
    bob.room.subscribe('event', ({ event }) => bobEvents.push(event));

    bob.room.broadcastEvent({ emoji: '🔥' });

    await vi.waitFor(() =>
      expect(received).toEqual([
        { event: { emoji: '🔥' }, connectionId: bob.room.getSelf()!.connectionId },
      ]),
    );
    alice.room.broadcastEvent({ reply: true });
    await vi.waitFor(() => expect(bobEvents).toEqual([{ reply: true }]));
  });

  it('reconnects by itself after its connection drops', async () => {
    const roomId = await room('client-reconnect');
    const upgrades = recordUpgrades(node.app.server);
    const alice = await enterRoom(node, roomId, {
      token: () => token('alice'),
      initialPresence: { step: 1 },
    });
    const bob = await enterRoom(node, roomId, { token: () => token('bob') });
    await vi.waitFor(() => expect(bob.room.getOthers()).toHaveLength(1));

    upgrades.dropAll();
    await vi.waitFor(() => expect(alice.statuses).toContain('reconnecting'));
    await alice.waitForStatus('connected');
    await bob.waitForStatus('connected');

    alice.room.updatePresence({ step: 2 });
    await vi.waitFor(() =>
      expect(bob.room.getOthers().map((other) => other.presence)).toEqual([{ step: 2 }]),
    );
  });

  it('answers the client heartbeat "ping" with "pong"', async () => {
    const roomId = await room('client-heartbeat');
    const socket = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, await token('alice')));
    await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);

    socket.ws.send('ping');

    await vi.waitFor(() => expect(socket.frames.map((f) => f.data)).toContain('pong'));
  });
});

describe('the socket protocol', () => {
  it('delivers presence addressed to one actor to that actor only', async () => {
    const roomId = await room('protocol-target');
    const sender = await joinRaw(roomId, 'sender');
    const target = await joinRaw(roomId, 'target');
    const bystander = await joinRaw(roomId, 'bystander');

    sender.sendMessages({
      type: CLIENT_MSG.UPDATE_PRESENCE,
      data: { secret: 'for target' },
      targetActor: actorOf(target),
    });
    sender.sendMessages({ type: CLIENT_MSG.BROADCAST_EVENT, event: 'after' });

    await target.waitForMessage(
      (m) => m.type === SERVER_MSG.UPDATE_PRESENCE && m.actor === actorOf(sender),
    );
    await bystander.waitForMessage((m) => m.type === SERVER_MSG.BROADCASTED_EVENT);
    expect(JSON.stringify(bystander.messages())).not.toContain('for target');
  });

  it('tells the others when a socket vanishes without a close frame', async () => {
    const roomId = await room('protocol-vanish');
    const observer = await joinRaw(roomId, 'observer');
    const ghost = await joinRaw(roomId, 'ghost');

    ghost.ws.terminate();

    await observer.waitForMessage(
      (m) => m.type === SERVER_MSG.USER_LEFT && m.actor === actorOf(ghost),
    );
    const { data } = await restClient(node).getActiveUsers(roomId);
    expect(data.map((user) => user.id)).toEqual(['observer']);
  });

  it('never reuses an actor id within a room, on either protocol', async () => {
    const roomId = await room('protocol-actors');
    const observer = await joinRaw(roomId, 'observer');
    const actors = [actorOf(observer)];

    for (let i = 0; i < 4; i++) {
      const socket =
        i % 2 === 0
          ? await joinRaw(roomId, `user-${i}`)
          : openRawSocket(yjsSocketUrl(node, roomId, await token(`user-${i}`)));
      if (i % 2 === 1) await socket.waitForFrames(1);
      const joined = await observer.waitForMessage(
        (m) => m.type === SERVER_MSG.USER_JOINED && !actors.includes(m.actor as number),
      );
      actors.push(joined.actor as number);
      socket.ws.close();
      await observer.waitForMessage(
        (m) => m.type === SERVER_MSG.USER_LEFT && m.actor === joined.actor,
      );
    }

    expect(new Set(actors).size).toBe(actors.length);
    expect([...actors].sort((x, y) => x - y)).toEqual(actors);
  });

  it('keeps the document across room unloads and reloads', async () => {
    const quick = await startNode({ ROOM_IDLE_UNLOAD_MS: '20' });
    const roomId = await room('protocol-reload', quick);

    for (let i = 0; i < 8; i++) {
      const client = await openLiveblocksYjs(quick, roomId, {
        token: () => token(`visitor-${i}`, {}, quick),
      });
      const items = client.doc.getArray<number>('visits');
      expect(items.toArray()).toEqual([...Array(i).keys()]);
      items.push([i]);
      await client.waitForSynchronized();
      client.provider.destroy();
      client.room.disconnect();
      // Every other visitor waits for the unload; the others rejoin while it may be under way.
      if (i % 2 === 0) await vi.waitFor(async () => expect(await roomsLoaded(quick)).toBe(0));
    }
    const doc = await fetchRoomDoc(quick, roomId);
    expect(doc.getArray('visits').toArray()).toEqual([...Array(8).keys()]);
  });
});

describe('@liveblocks/yjs', () => {
  it('converges two documents both ways', async () => {
    const roomId = await room('yjs-converge');
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    const b = await openLiveblocksYjs(node, roomId, { token: () => token('bob') });

    a.doc.getText('text').insert(0, 'hello');
    await vi.waitFor(() => expect(b.doc.getText('text').toString()).toBe('hello'));
    b.doc.getText('text').insert(5, ' world');
    a.doc.getMap('map').set('from', 'a');
    await vi.waitFor(() => expect(a.doc.getText('text').toString()).toBe('hello world'));
    await vi.waitFor(() => expect(b.doc.getMap('map').get('from')).toBe('a'));

    await a.waitForSynchronized();
    await b.waitForSynchronized();
  });

  it('gives a late joiner the whole document, synchronized by snapshot hash', async () => {
    const roomId = await room('yjs-late');
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    for (let i = 0; i < 50; i++) a.doc.getArray('items').push([i]);
    a.doc.getText('text').insert(0, 'written before the late joiner');
    await a.waitForSynchronized();

    const late = await openLiveblocksYjs(node, roomId, { token: () => token('late') });

    expect(late.doc.getText('text').toString()).toBe('written before the late joiner');
    expect(late.doc.getArray('items').length).toBe(50);
    await late.waitForSynchronized();
  });

  it('syncs sub-documents by guid', async () => {
    const roomId = await room('yjs-subdocs');
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    const sub = new Y.Doc({ guid: 'chapter-1' });
    a.doc.getMap('chapters').set('one', sub);
    sub.load();
    await vi.waitFor(() => expect(a.provider.subdocHandlers.has('chapter-1')).toBe(true));
    sub.getText('body').insert(0, 'inside the sub-document');

    const b = await openLiveblocksYjs(node, roomId, {
      token: () => token('bob'),
      provider: { autoloadSubdocs: true },
    });
    await vi.waitFor(() => {
      const remote = b.doc.getMap('chapters').get('one') as Y.Doc | undefined;
      expect(remote?.guid).toBe('chapter-1');
      expect(remote?.getText('body').toString()).toBe('inside the sub-document');
    });
    const stored = await fetchRoomDoc(node, roomId, 'chapter-1');
    expect(stored.getText('body').toString()).toBe('inside the sub-document');
    expect((await fetchRoomDoc(node, roomId)).getText('body').toString()).toBe('');
  });

  it('works with the v2 update encoding, alone and next to v1 clients', async () => {
    const roomId = await room('yjs-v2');
    const v2 = { useV2Encoding_experimental: true };
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice'), provider: v2 });
    const b = await openLiveblocksYjs(node, roomId, { token: () => token('bob'), provider: v2 });
    const v1 = await openLiveblocksYjs(node, roomId, { token: () => token('carol') });

    a.doc.getText('text').insert(0, 'v2 text');
    await vi.waitFor(() => expect(b.doc.getText('text').toString()).toBe('v2 text'));
    await vi.waitFor(() => expect(v1.doc.getText('text').toString()).toBe('v2 text'));
    v1.doc.getText('text').insert(0, 'v1 + ');
    await vi.waitFor(() => expect(a.doc.getText('text').toString()).toBe('v1 + v2 text'));

    await a.waitForSynchronized();
    await b.waitForSynchronized();
    await v1.waitForSynchronized();
  });

  it('carries Yjs awareness in presence', async () => {
    const roomId = await room('yjs-awareness');
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    const b = await openLiveblocksYjs(node, roomId, { token: () => token('bob') });

    a.provider.awareness.setLocalStateField('user', { name: 'Alice', cursor: 3 });

    await vi.waitFor(() =>
      expect([...b.provider.awareness.getStates().values()]).toContainEqual(
        expect.objectContaining({ user: { name: 'Alice', cursor: 3 } }),
      ),
    );
  });
});

describe('y-websocket', () => {
  it('syncs text both ways with @liveblocks/yjs in the same room', async () => {
    const roomId = await room('yws-bridge');
    const lb = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    const yws = await openYWebsocket(node, roomId, await token('bob'));

    yws.doc.getText('text').insert(0, 'typed in y-websocket');
    await vi.waitFor(() => expect(lb.doc.getText('text').toString()).toBe('typed in y-websocket'));
    lb.doc.getText('text').insert(0, 'liveblocks: ');
    await vi.waitFor(() =>
      expect(yws.doc.getText('text').toString()).toBe('liveblocks: typed in y-websocket'),
    );
    await lb.waitForSynchronized();
  });

  it('gives a late y-websocket joiner what @liveblocks/yjs wrote', async () => {
    const roomId = await room('yws-late');
    const lb = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    lb.doc.getMap('map').set('written', 'before');
    await lb.waitForSynchronized();

    const yws = await openYWebsocket(node, roomId, await token('bob'));

    expect(yws.doc.getMap('map').get('written')).toBe('before');
  });

  it('syncs two y-websocket providers through the server', async () => {
    const roomId = await room('yws-pair');
    const one = await openYWebsocket(node, roomId, await token('alice'));
    const two = await openYWebsocket(node, roomId, await token('bob'));

    one.doc.getText('text').insert(0, 'one');
    await vi.waitFor(() => expect(two.doc.getText('text').toString()).toBe('one'));
    two.doc.getText('text').insert(3, ' two');
    await vi.waitFor(() => expect(one.doc.getText('text').toString()).toBe('one two'));
  });
});

describe('REST routes of live rooms', () => {
  it('serves the document as JSON and as a binary update', async () => {
    const roomId = await room('rest-ydoc');
    const a = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    a.doc.getText('text').insert(0, 'hello');
    a.doc.getMap('map').set('k', 'v');
    a.doc.getArray('list').push([1, 2]);
    await a.waitForSynchronized();
    const rest = restClient(node);

    expect(await rest.getYjsDocument(roomId)).toEqual({
      text: 'hello',
      map: { k: 'v' },
      list: [1, 2],
    });
    expect(await rest.getYjsDocument(roomId, { key: 'map', type: 'ymap' })).toEqual({ k: 'v' });
    expect(await rest.getYjsDocument(roomId, { key: 'text', type: 'ytext' })).toBe('hello');
    const binary = await fetchRoomDoc(node, roomId);
    expect(binary.getText('text').toString()).toBe('hello');
    expect(binary.getMap('map').toJSON()).toEqual({ k: 'v' });
  });

  it('applies a PUT update and delivers it live to both kinds of clients', async () => {
    const roomId = await room('rest-put');
    const lb = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    const yws = await openYWebsocket(node, roomId, await token('bob'));
    const update = new Y.Doc();
    update.getText('text').insert(0, 'from the backend');

    await restClient(node).sendYjsBinaryUpdate(roomId, Y.encodeStateAsUpdate(update));

    await vi.waitFor(() => expect(lb.doc.getText('text').toString()).toBe('from the backend'));
    await vi.waitFor(() => expect(yws.doc.getText('text').toString()).toBe('from the backend'));
    await lb.waitForSynchronized();
  });

  it('lists active users under both spellings', async () => {
    const roomId = await room('rest-active');
    const alice = await enterRoom(node, roomId, { token: () => token('alice', { name: 'A' }) });
    await enterRoom(node, roomId, { token: () => token('bob') });

    const { data } = await restClient(node).getActiveUsers(roomId);
    expect(data).toHaveLength(2);
    expect(data).toContainEqual({
      type: 'user',
      id: 'alice',
      connectionId: alice.room.getSelf()!.connectionId,
      info: { name: 'A' },
    });
    const legacy = await fetch(`${node.url}/v2/rooms/${roomId}/active_users`, {
      headers: { authorization: `Bearer ${node.secret}` },
    });
    expect(legacy.status).toBe(200);
    expect(((await legacy.json()) as { data: unknown[] }).data).toHaveLength(2);
  });

  it('delivers a REST broadcast to clients with connection id -1, under both spellings', async () => {
    const roomId = await room('rest-broadcast');
    const alice = await enterRoom(node, roomId, { token: () => token('alice') });
    const received: { event: unknown; connectionId: number }[] = [];
    alice.room.subscribe('event', ({ event, connectionId }) => {
      received.push({ event, connectionId });
    });

    await restClient(node).broadcastEvent(roomId, { from: 'backend' });
    const legacy = await fetch(`${node.url}/v2/rooms/${roomId}/broadcast_event`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ from: 'legacy' }),
    });
    expect(legacy.status).toBeLessThan(300);

    await vi.waitFor(() =>
      expect(received).toEqual([
        { event: { from: 'backend' }, connectionId: -1 },
        { event: { from: 'legacy' }, connectionId: -1 },
      ]),
    );
  });

  it('closes every socket of a renamed room with 4006 and serves it under the new id', async () => {
    const roomId = await room('rest-rename');
    const writer = await openLiveblocksYjs(node, roomId, { token: () => token('alice') });
    writer.doc.getText('text').insert(0, 'kept across the rename');
    await writer.waitForSynchronized();
    const v8 = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, await token('bob')));
    const y = openRawSocket(yjsSocketUrl(node, roomId, await token('bob')));
    await v8.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    // The server's first frame (its sync step 1) shows the /y socket has joined.
    await y.waitForFrames(1);

    await restClient(node).updateRoomId({ currentRoomId: roomId, newRoomId: 'rest-renamed' });

    expect((await v8.closed()).code, describeSocket(v8)).toBe(4006);
    expect((await y.closed()).code, describeSocket(y)).toBe(4006);
    await vi.waitFor(() => expect(writer.closes.map((c) => c.code)).toContain(4006));
    await writer.waitForStatus('disconnected');
    const renamed = await openLiveblocksYjs(node, 'rest-renamed', { token: () => token('carol') });
    expect(renamed.doc.getText('text').toString()).toBe('kept across the rename');
  });

  it('closes every socket of a deleted room without inviting a retry', async () => {
    const roomId = await room('rest-delete');
    const alice = await enterRoom(node, roomId, { token: () => token('alice') });
    const v8 = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, await token('bob')));
    const y = openRawSocket(yjsSocketUrl(node, roomId, await token('bob')));
    await v8.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    // The server's first frame (its sync step 1) shows the /y socket has joined.
    await y.waitForFrames(1);

    await restClient(node).deleteRoom(roomId);

    for (const socket of [v8, y]) {
      const { code } = await socket.closed();
      expect(code >= 4000 && code < 4100, describeSocket(socket)).toBe(true);
    }
    await alice.waitForStatus('disconnected');
  });
});

describe('limits', () => {
  const LIMIT_ENV = {
    MAX_CONNECTIONS_PER_ROOM: '2',
    MAX_MESSAGE_BYTES: String(64 * 1024),
    HANDSHAKE_TIMEOUT_MS: '500',
    PING_INTERVAL_MS: '200',
  };
  let limited: TestNode;

  beforeAll(async () => {
    limited = await startNode(LIMIT_ENV);
  });

  it('closes connections past MAX_CONNECTIONS_PER_ROOM with 4005 on both protocols', async () => {
    const roomId = await room('limit-full', limited);
    const first = openRawSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('a', {}, limited)),
    );
    await first.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    const second = openRawSocket(yjsSocketUrl(limited, roomId, await token('b', {}, limited)));
    await second.waitForFrames(1);

    const thirdV8 = openRawSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('c', {}, limited)),
    );
    const thirdY = openRawSocket(yjsSocketUrl(limited, roomId, await token('c', {}, limited)));
    expect((await thirdV8.closed()).code, describeSocket(thirdV8)).toBe(4005);
    expect((await thirdY.closed()).code, describeSocket(thirdY)).toBe(4005);
    expect(thirdV8.messages().filter((m) => m.type === SERVER_MSG.ROOM_STATE)).toEqual([]);

    first.ws.close();
    await first.closed();
    await vi.waitFor(async () => {
      const again = openRawSocket(
        liveblocksSocketUrl(limited, '/v8', roomId, await token('d', {}, limited)),
      );
      await again.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE, 1_000);
    });
  });

  it('frees the seats of sockets that vanished', async () => {
    const roomId = await room('limit-seats', limited);
    for (const userId of ['a', 'b']) {
      const socket = openRawSocket(
        liveblocksSocketUrl(limited, '/v8', roomId, await token(userId, {}, limited)),
      );
      await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
      socket.ws.terminate();
    }

    await vi.waitFor(async () => {
      const { data } = await restClient(limited).getActiveUsers(roomId);
      expect(data).toEqual([]);
    });
    for (const userId of ['c', 'd']) {
      const socket = openRawSocket(
        liveblocksSocketUrl(limited, '/v8', roomId, await token(userId, {}, limited)),
      );
      await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    }
  });

  it('closes a socket that sends a frame over MAX_MESSAGE_BYTES with 1009', async () => {
    const roomId = await room('limit-size', limited);
    const sender = openRawSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('a', {}, limited)),
    );
    const listener = openRawSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('b', {}, limited)),
    );
    await sender.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    await listener.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);

    sender.sendMessages({ type: CLIENT_MSG.BROADCAST_EVENT, event: 'x'.repeat(60 * 1024) });
    await listener.waitForMessage((m) => m.type === SERVER_MSG.BROADCASTED_EVENT);
    sender.sendMessages({ type: CLIENT_MSG.BROADCAST_EVENT, event: 'x'.repeat(70 * 1024) });
    expect((await sender.closed()).code, describeSocket(sender)).toBe(1009);

    const y = openRawSocket(yjsSocketUrl(limited, roomId, await token('c', {}, limited)));
    await y.opened();
    y.ws.send(new Uint8Array(70 * 1024));
    expect((await y.closed()).code, describeSocket(y)).toBe(1009);
    expect(listener.messages().filter((m) => m.type === SERVER_MSG.BROADCASTED_EVENT)).toHaveLength(
      1,
    );
  });

  it('drops a connection that does not finish its upgrade within HANDSHAKE_TIMEOUT_MS', async () => {
    const socket = net.connect(limited.port, '127.0.0.1');
    let closedAt: number | undefined;
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const startedAt = Date.now();
    // Half an upgrade request, as a slow or malicious client would leave it.
    socket.write(
      `GET /v8?roomId=limit-handshake HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n`,
    );

    await vi.waitFor(() => expect(closedAt).toBeDefined(), { timeout: 5_000, interval: 20 });
    expect(closedAt! - startedAt).toBeGreaterThanOrEqual(400);
    socket.destroy();
  });

  it('terminates a socket that stops answering pings, and keeps one that answers', async () => {
    const roomId = await room('limit-ping', limited);
    const alive = openRawSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('a', {}, limited)),
    );
    await alive.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    let pingsSeen = 0;
    alive.ws.on('ping', () => pingsSeen++);

    const dead = new WebSocket(
      liveblocksSocketUrl(limited, '/v8', roomId, await token('b', {}, limited)),
      { autoPong: false },
    );
    let deadClosed = false;
    dead.on('close', () => (deadClosed = true));
    dead.on('error', () => {});

    await vi.waitFor(() => expect(deadClosed).toBe(true), { timeout: 5_000, interval: 20 });
    await vi.waitFor(() => expect(pingsSeen).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    expect(alive.closeInfo).toBeUndefined();
  });

  it('disconnects a consumer that stops reading once its buffer passes MAX_OUTBOUND_BUFFER_BYTES', async () => {
    const slowNode = await startNode({ MAX_OUTBOUND_BUFFER_BYTES: String(1024 * 1024) });
    const roomId = await room('limit-slow', slowNode);
    const observer = openRawSocket(
      liveblocksSocketUrl(slowNode, '/v8', roomId, await token('o', {}, slowNode)),
    );
    await observer.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    const slow = openRawSocket(
      liveblocksSocketUrl(slowNode, '/v8', roomId, await token('s', {}, slowNode)),
    );
    const slowState = await slow.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    const writer = openRawSocket(
      liveblocksSocketUrl(slowNode, '/v8', roomId, await token('w', {}, slowNode)),
    );
    await writer.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    slow.ws.pause();

    const payload = 'y'.repeat(256 * 1024);
    const slowLeft = () =>
      observer
        .messages()
        .some((m) => m.type === SERVER_MSG.USER_LEFT && m.actor === slowState.actor);
    let sent = 0;
    for (; sent < 120 && !slowLeft(); sent++) {
      const i = sent;
      writer.sendMessages({ type: CLIENT_MSG.BROADCAST_EVENT, event: { i, payload } });
      await observer.waitForMessage(
        (m) => m.type === SERVER_MSG.BROADCASTED_EVENT && (m.event as { i: number }).i === i,
      );
    }

    expect(slowLeft(), 'the slow consumer was never disconnected').toBe(true);
    // 1 MiB of 256 KiB events cannot be over the limit before the fourth one.
    expect(sent).toBeGreaterThanOrEqual(4);
    slow.ws.resume();
    expect([1006, 1013]).toContain((await slow.closed()).code);
    expect(writer.closeInfo).toBeUndefined();
    expect(observer.closeInfo).toBeUndefined();
  });
});

/** Creates a room of acme that every user may write, and returns its id. */
async function room(roomId: string, target: NodeAddress = node): Promise<string> {
  await restClient(target).createRoom(roomId, {
    defaultAccesses: ['room:write'],
    organizationId: ORG,
  });
  return roomId;
}

function token(
  userId: string,
  userInfo: Record<string, string> = {},
  target: NodeAddress = node,
): Promise<string> {
  return mintIdToken(target, userId, { organizationId: ORG, userInfo });
}

/** A raw /v8 socket that joined the room. */
async function joinRaw(roomId: string, userId: string): Promise<RawSocket> {
  const socket = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, await token(userId)));
  await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
  return socket;
}

function actorOf(socket: RawSocket): number {
  return socket.messages().find((m) => m.type === SERVER_MSG.ROOM_STATE)!.actor as number;
}

/** The node's `weft_rooms_loaded` gauge, from GET /metrics. */
async function roomsLoaded(target: NodeAddress): Promise<number> {
  const text = await (await fetch(`${target.url}/metrics`)).text();
  const match = /^weft_rooms_loaded(?:\{[^}]*\})? (\d+)/m.exec(text);
  if (!match) throw new Error('weft_rooms_loaded missing from /metrics');
  return Number(match[1]);
}
