import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';

import {
  createRoom,
  enter,
  idToken,
  rawSocket,
  socketUrl,
  uniqueRoomId,
  waitForStatus,
} from '../support/live-session.js';
import { startNode } from '../support/start-node.js';

const MALFORMED_JSON_FRAMES = [
  '{not json',
  '"a string"',
  '[null]',
  '[42]',
  '[{"type":100}]',
  '[{"type":100,"data":[1]}]',
  '[{"type":100,"data":{},"targetActor":"x"}]',
  '[{"type":300,"vector":123}]',
  '[{"type":300,"vector":"%%%"}]',
  '[{"type":300,"vector":"AAEC","guid":""}]',
  '[{"type":301,"update":"!!!"}]',
  '[{"type":301,"update":"AAECAwQF"}]',
  '[{"type":301}]',
];

describe('bad frames', () => {
  it('closes each malformed Liveblocks frame with 4000 and keeps serving the room', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const { room } = enter(node, roomId, 'witness');
    await waitForStatus(room, 'connected');

    for (const frame of MALFORMED_JSON_FRAMES) {
      const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'fuzzer')));
      await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));
      socket.ws.send(frame);
      await vi.waitFor(() => expect(socket.close.code, frame).toBe(4000));
    }

    expect(room.getStatus()).toBe('connected');
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });

  it('ignores message types it does not know, as newer clients send them', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const socket = rawSocket(socketUrl(node, roomId, await idToken(node, 'newer')));
    await vi.waitFor(() => expect(socket.messages[0]?.type).toBe(104));

    socket.send({ type: 510, requestId: 'r1' }, { type: 9999 });
    socket.ws.send('ping');

    await vi.waitFor(() => expect(socket.ws.readyState).toBe(WebSocket.OPEN));
    await new Promise((resolve) => socket.ws.once('message', resolve));
    expect(socket.close.code).toBeUndefined();
  });

  it('closes garbage on /y with 4000 without disturbing other y-websocket clients', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId);
    const url = `${node.url.replace('http', 'ws')}/y/${encodeURIComponent(roomId)}?token=${await idToken(node, 'y')}`;
    const frames = [
      new Uint8Array([0, 2, 200]),
      new Uint8Array([0, 9, 0]),
      new Uint8Array([1, 5, 1, 2]),
      new Uint8Array([7]),
      new Uint8Array([0, 2, 3, 1, 2, 3]),
    ];

    for (const frame of frames) {
      const socket = new WebSocket(url);
      const closed = new Promise<number>((resolve) => socket.on('close', resolve));
      socket.on('error', () => {});
      await new Promise((resolve) => socket.once('message', resolve));
      socket.send(frame);
      expect(await closed, String(frame)).toBe(4000);
    }
    const text = new WebSocket(url);
    const closed = new Promise<number>((resolve) => text.on('close', resolve));
    await new Promise((resolve) => text.once('message', resolve));
    text.send('hello');
    expect(await closed).toBe(4000);
  });

  it('never writes a token into the logs', async () => {
    const node = await startNode();
    const roomId = uniqueRoomId();
    await createRoom(node, roomId, { organizationId: 'org-a' });
    const token = await idToken(node, 'alice');
    const refused = rawSocket(socketUrl(node, roomId, token));
    await vi.waitFor(() => expect(refused.close.code).toBe(4001));
    const y = new WebSocket(
      `${node.url.replace('http', 'ws')}/y/${encodeURIComponent(roomId)}?token=${token}`,
    );
    y.on('error', () => {});
    await new Promise((resolve) => y.on('close', resolve));

    const logs = JSON.stringify(node.logs);
    expect(logs).toContain('join refused');
    expect(logs).not.toContain(token);
    expect(logs).not.toContain(token.split('.')[2]);
  });
});
