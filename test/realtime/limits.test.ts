import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import * as Y from 'yjs';

import { LocalBus } from '../../src/cluster/local-bus.js';
import { GatedBus } from '../support/gated-bus.js';
import {
  createRoom,
  enter,
  idToken,
  rawSocket,
  socketUrl,
  uniqueRoomId,
  waitForStatus,
} from '../support/live-session.js';
import { startNode, type TestNode } from '../support/start-node.js';

const joined = (socket: { messages: { type: number }[] }) =>
  socket.messages.some((message) => message.type === 104);

async function roomWithSocket(node: TestNode, user = 'alice') {
  const roomId = uniqueRoomId();
  await createRoom(node, roomId);
  const socket = rawSocket(socketUrl(node, roomId, await idToken(node, user)));
  await vi.waitFor(() => expect(joined(socket)).toBe(true));
  return { roomId, socket };
}

async function startGatedNode(env: Record<string, string> = {}) {
  let gated: GatedBus | undefined;
  const node = await startNode(env, {
    createBus: ({ config, logger, store }) =>
      (gated = new GatedBus(
        new LocalBus({ nodeId: config.nodeId, roomLog: store.roomLog, rooms: store.rooms, logger }),
      )),
  });
  return { node, bus: gated! };
}

const yjsUpdate = (text: string) => {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');
};

describe('limits', () => {
  it('closes a socket whose frame exceeds MAX_MESSAGE_BYTES with 1009', async () => {
    const node = await startNode({ MAX_MESSAGE_BYTES: '4096' });
    const { socket } = await roomWithSocket(node);

    socket.send({ type: 103, event: 'x'.repeat(5000) });

    await vi.waitFor(() => expect(socket.close.code).toBe(1009));
  });

  it('answers a REST body over MAX_MESSAGE_BYTES with 413', async () => {
    const node = await startNode({ MAX_MESSAGE_BYTES: '4096' });
    const { roomId } = await roomWithSocket(node);

    const response = await fetch(`${node.url}/v2/rooms/${encodeURIComponent(roomId)}/ydoc`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${node.secret}`,
        'content-type': 'application/octet-stream',
      },
      body: new Uint8Array(5000),
    });

    expect(response.status).toBe(413);
  });

  it('closes a join past MAX_CONNECTIONS_PER_ROOM with 4005 before sending anything', async () => {
    const node = await startNode({ MAX_CONNECTIONS_PER_ROOM: '2' });
    const { roomId } = await roomWithSocket(node, 'a');
    const second = rawSocket(socketUrl(node, roomId, await idToken(node, 'b')));
    await vi.waitFor(() => expect(joined(second)).toBe(true));

    const third = rawSocket(socketUrl(node, roomId, await idToken(node, 'c')));

    await vi.waitFor(() => expect(third.close.code).toBe(4005));
    expect(third.messages).toEqual([]);
  });

  it('slows a connection past MAX_MESSAGES_PER_SECOND without dropping any message', async () => {
    const node = await startNode({ MAX_MESSAGES_PER_SECOND: '20' });
    const { socket } = await roomWithSocket(node);
    let pongs = 0;
    socket.ws.on('message', (data: Buffer) => {
      if (data.toString() === 'pong') pongs += 1;
    });
    const startedAt = Date.now();

    // Sent over time, so that the server reads them one by one, not as one TCP chunk.
    for (let i = 0; i < 45; i += 1) {
      socket.ws.send('ping');
      await new Promise((resolve) => setImmediate(resolve));
    }

    await vi.waitFor(() => expect(pongs).toBe(45), { timeout: 5_000 });
    // Past 20 in the first second the server stopped reading until that second ended.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(900);
    expect(socket.close.code).toBeUndefined();
    expect(node.logs.some((record) => record.msg === 'message rate limited')).toBe(true);
  });

  it('closes a socket whose join does not complete within HANDSHAKE_TIMEOUT_MS', async () => {
    const { node, bus } = await startGatedNode({ HANDSHAKE_TIMEOUT_MS: '300' });
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    bus.holdHistory = true;

    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'alice')));

    await vi.waitFor(() => expect(socket.close.code).toBe(1008));
    expect(socket.messages).toEqual([]);
    bus.release();
  });

  it('terminates a socket that stops answering pings and keeps one that answers', async () => {
    const node = await startNode({ PING_INTERVAL_MS: '100' });
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const url = socketUrl(node, roomId, await idToken(node, 'alice'));
    const deaf = new WebSocket(url, { autoPong: false });
    const healthy = rawSocket(socketUrl(node, roomId, await idToken(node, 'bob')));
    let deafClosedAt = 0;
    deaf.on('close', () => (deafClosedAt = Date.now()));
    deaf.on('error', () => {});
    const openedAt = Date.now();

    await vi.waitFor(() => expect(deafClosedAt).toBeGreaterThan(0), { timeout: 3_000 });

    expect(deafClosedAt - openedAt).toBeGreaterThanOrEqual(200);
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
    expect(node.logs.some((record) => record.msg === 'dead socket terminated')).toBe(true);
  });

  it('disconnects a consumer that stops reading once its buffer passes the limit', async () => {
    const node = await startNode({ MAX_OUTBOUND_BUFFER_BYTES: String(256 * 1024) });
    const { roomId, socket: slow } = await roomWithSocket(node, 'slow');
    const sender = rawSocket(socketUrl(node, roomId, await idToken(node, 'fast')));
    await vi.waitFor(() => expect(joined(sender)).toBe(true));
    // Stop reading: the kernel buffers fill, then the server's send queue grows.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();

    const payload = 'x'.repeat(512 * 1024);
    for (let i = 0; i < 80 && sender.ws.readyState === WebSocket.OPEN; i += 1) {
      sender.send({ type: 103, event: payload });
      await new Promise((resolve) => setImmediate(resolve));
    }

    await vi.waitFor(
      () =>
        expect(node.logs.some((record) => record.msg === 'slow consumer disconnected')).toBe(true),
      { timeout: 5_000 },
    );
    const users = await fetch(`${node.url}/v2/rooms/${encodeURIComponent(roomId)}/active-users`, {
      headers: { authorization: `Bearer ${node.secret}` },
    });
    expect(((await users.json()) as { data: { id: string }[] }).data.map((u) => u.id)).toEqual([
      'fast',
    ]);
    expect(sender.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('closes a writer with 1013 when the log does not take its update in WRITE_STALL_TIMEOUT_MS', async () => {
    const { node, bus } = await startGatedNode({ WRITE_STALL_TIMEOUT_MS: '300' });
    const { socket } = await roomWithSocket(node);
    socket.send({ type: 300, vector: '' });
    await vi.waitFor(() => expect(socket.messages.some((m) => m.type === 300)).toBe(true));
    bus.holdAppends = true;

    socket.send({ type: 301, update: yjsUpdate('never acknowledged') });

    await vi.waitFor(() => expect(socket.close.code).toBe(1013));
    // Only the FETCH_YDOC answer: the update was neither echoed nor acknowledged.
    expect(socket.messages.filter((m) => m.type === 300)).toHaveLength(1);
    bus.release();
  });

  it('closes at token expiry with 4109; the client fetches a new token and reconnects', async () => {
    const node = await startNode({ TOKEN_TTL_SECONDS: '1' });
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room, authCalls } = enter(node, roomId, 'alice');
    await waitForStatus(room, 'connected');
    const statuses: string[] = [];
    room.subscribe('status', (status) => statuses.push(status));

    await vi.waitFor(() => expect(authCalls()).toBeGreaterThanOrEqual(2), { timeout: 5_000 });
    await waitForStatus(room, 'connected');

    expect(statuses).toContain('reconnecting');
    expect(node.logs.some((record) => record.msg === 'token expired during the session')).toBe(
      true,
    );
  });
});
