import path from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';

import { makeDataDir } from '../support/child-node.js';
import {
  CLIENT_MSG,
  EMPTY_STATE_VECTOR,
  SERVER_MSG,
  describe as describeSocket,
  fetchRoomDoc,
  fromBase64,
  liveblocksSocketUrl,
  mintAccessToken,
  mintIdToken,
  openRawSocket,
  restClient,
  toBase64,
  yFrameUpdate,
  yUpdateFrame,
  yjsSocketUrl,
  type NodeAddress,
  type RawSocket,
} from '../support/clients.js';
import { startNode } from '../support/start-node.js';

/**
 * What a hostile or broken client may send: claims to be someone else, malformed frames,
 * unreadable Yjs bytes, ambiguous URLs, and rooms that were deleted or renamed under it. The
 * socket is closed with a code and a reason, the room and the node keep working, nothing
 * unreadable reaches the log, and no organization sees another's data.
 */

const ORG = 'acme';
const CONTENT = 'valid content';

let node: NodeAddress;

beforeAll(async () => {
  node = await startNode();
});

describe('identity', () => {
  it('stamps relayed presence and events with the sender’s actor, whatever it claims', async () => {
    const roomId = await room('abuse-actor');
    const victim = await joinV8(roomId, 'victim');
    const attacker = await joinV8(roomId, 'attacker');
    const observer = await joinV8(roomId, 'observer');
    const victimActor = actorOf(victim);
    const attackerActor = actorOf(attacker);

    attacker.sendMessages(
      { type: CLIENT_MSG.UPDATE_PRESENCE, data: { spoof: 1 }, actor: victimActor },
      { type: CLIENT_MSG.BROADCAST_EVENT, event: { spoof: 2 }, actor: victimActor },
    );

    const presence = await observer.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_PRESENCE);
    const event = await observer.waitForMessage((m) => m.type === SERVER_MSG.BROADCASTED_EVENT);
    expect(presence).toMatchObject({ actor: attackerActor, data: { spoof: 1 } });
    expect(event).toMatchObject({ actor: attackerActor, event: { spoof: 2 } });
  });
});

describe('malformed input', () => {
  const V8_CASES: Record<string, (socket: RawSocket) => void> = {
    'a frame that is not JSON': (s) => s.ws.send('{not json'),
    'a JSON value that is not a message': (s) => s.ws.send('[42]'),
    'a binary frame': (s) => s.ws.send(new Uint8Array([1, 2, 3])),
    'an update that is not base64': (s) =>
      s.sendMessages({ type: CLIENT_MSG.UPDATE_YDOC, update: '%%% not base64 %%%' }),
    'an update Yjs cannot read': (s) =>
      s.sendMessages({ type: CLIENT_MSG.UPDATE_YDOC, update: toBase64(unreadableUpdate()) }),
    'a state vector Yjs cannot read': (s) =>
      s.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: toBase64(new Uint8Array([255])) }),
    'presence that is not an object': (s) =>
      s.sendMessages({ type: CLIENT_MSG.UPDATE_PRESENCE, data: 'cursor' }),
  };
  const Y_CASES: Record<string, (socket: RawSocket) => void> = {
    'a text frame': (s) => s.ws.send('hello'),
    'an unknown message type': (s) => s.ws.send(new Uint8Array([99, 0])),
    'an update Yjs cannot read': (s) => s.ws.send(yUpdateFrame(unreadableUpdate())),
  };

  it.each(Object.keys(V8_CASES))(
    'closes a /v8 socket sending %s with 4000 and keeps the room serving',
    async (name) => {
      const roomId = await roomWithContent(`abuse-v8-${slug(name)}`);
      const bystander = await joinV8(roomId, 'bystander');
      const culprit = await joinV8(roomId, 'culprit');

      V8_CASES[name]!(culprit);
      const close = await culprit.closed();

      expect(close.code, describeSocket(culprit)).toBe(4000);
      expect(close.reason).not.toBe('');
      await expectRoomServing(roomId, bystander);
    },
  );

  it.each(Object.keys(Y_CASES))(
    'closes a /y socket sending %s with 4000 and keeps the room serving',
    async (name) => {
      const roomId = await roomWithContent(`abuse-y-${slug(name)}`);
      const bystander = await joinV8(roomId, 'bystander');
      const culprit = openRawSocket(yjsSocketUrl(node, roomId, await token('culprit')));
      await culprit.waitForFrames(1);

      Y_CASES[name]!(culprit);
      const close = await culprit.closed();

      expect(close.code, describeSocket(culprit)).toBe(4000);
      expect(close.reason).not.toBe('');
      await expectRoomServing(roomId, bystander);
    },
  );

  it('keeps unreadable updates out of the log: the room loads after a restart', async () => {
    const dataDir = makeDataDir();
    const env = { DATABASE_URL: `sqlite:${path.join(dataDir, 'weft.db')}` };
    const first = await startNode(env);
    const roomId = await room('abuse-restart', first);
    await restClient(first).sendYjsBinaryUpdate(roomId, contentUpdate());
    for (const send of [
      V8_CASES['an update Yjs cannot read']!,
      Y_CASES['an update Yjs cannot read']!,
    ]) {
      const userToken = await token('culprit', first);
      const culprit =
        send === Y_CASES['an update Yjs cannot read']
          ? openRawSocket(yjsSocketUrl(first, roomId, userToken))
          : openRawSocket(liveblocksSocketUrl(first, '/v8', roomId, userToken));
      await culprit.waitForFrames(1);
      send(culprit);
      await culprit.closed();
    }
    const put = await fetch(`${first.url}/v2/rooms/${roomId}/ydoc`, {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${first.secret}`,
        'content-type': 'application/octet-stream',
      },
      body: unreadableUpdate(),
    });
    expect(put.status).toBeGreaterThanOrEqual(400);
    expect(put.status).toBeLessThan(500);
    await first.close();

    const second = await startNode(env);
    expect((await fetchRoomDoc(second, roomId)).getText('text').toString()).toBe(CONTENT);
    const reader = openRawSocket(
      liveblocksSocketUrl(second, '/v8', roomId, await token('reader', second)),
    );
    await reader.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
  });
});

describe('ambiguous and stale room ids', () => {
  it('never lets a repeated roomId parameter reach another organization’s room', async () => {
    await roomWithContent('abuse-acme-secret');
    await restClient(node).createRoom('abuse-globex-own', {
      defaultAccesses: [],
      organizationId: 'globex',
    });
    const globex = await mintAccessToken(node, 'eve', { organizationId: 'globex' });

    for (const order of [
      ['abuse-globex-own', 'abuse-acme-secret'],
      ['abuse-acme-secret', 'abuse-globex-own'],
    ]) {
      const query = `${order.map((id) => `roomId=${id}`).join('&')}&tok=${globex}&version=3.24.2`;
      const socket = openRawSocket(`${node.url.replace(/^http/, 'ws')}/v8?${query}`);
      const outcome = await socket
        .waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE)
        .then(
          () => 'joined',
          () => 'closed',
        );
      if (outcome === 'joined') {
        socket.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
        const reply = await socket.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_YDOC);
        const doc = new Y.Doc();
        Y.applyUpdate(doc, fromBase64(reply.update as string));
        expect(doc.getText('text').toString()).toBe('');
      } else {
        expect(socket.closeInfo!.code, describeSocket(socket)).toBe(4001);
      }
      expect(JSON.stringify(socket.messages())).not.toContain(CONTENT);
    }
    expect((await restClient(node).getRoom('abuse-acme-secret')).organizationId).toBe(ORG);
  });

  it('gives a room re-created under a deleted room’s id none of the old data', async () => {
    const roomId = await roomWithContent('abuse-deleted');
    const occupant = await joinV8(roomId, 'occupant');
    await restClient(node).deleteRoom(roomId);
    await occupant.closed();

    const globex = await mintAccessToken(node, 'eve', { organizationId: 'globex' });
    const newcomer = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, globex));
    await newcomer.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    newcomer.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
    const reply = await newcomer.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_YDOC);

    const doc = new Y.Doc();
    Y.applyUpdate(doc, fromBase64(reply.update as string));
    expect(doc.getText('text').toString()).toBe('');
    expect((await restClient(node).getRoom(roomId)).organizationId).toBe('globex');
    expect((await fetchRoomDoc(node, roomId)).getText('text').toString()).toBe('');
  });

  it('gives a room re-created under a renamed room’s old id none of the moved data', async () => {
    const roomId = await roomWithContent('abuse-renamed-from');
    const occupant = await joinV8(roomId, 'occupant');
    await restClient(node).updateRoomId({ currentRoomId: roomId, newRoomId: 'abuse-renamed-to' });
    await occupant.closed();

    const globex = await mintAccessToken(node, 'eve', { organizationId: 'globex' });
    const newcomer = openRawSocket(yjsSocketUrl(node, roomId, globex));
    await newcomer.waitForFrames(1);

    expect((await restClient(node).getRoom(roomId)).organizationId).toBe('globex');
    expect((await fetchRoomDoc(node, roomId)).getText('text').toString()).toBe('');
    expect((await fetchRoomDoc(node, 'abuse-renamed-to')).getText('text').toString()).toBe(CONTENT);
    const moved = openRawSocket(liveblocksSocketUrl(node, '/v8', 'abuse-renamed-to', globex));
    expect((await moved.closed()).code, describeSocket(moved)).toBe(4001);
  });

  it('serves a room id with a slash and a space to both protocols as one room', async () => {
    const roomId = await roomWithContent('folder/doc 1');

    const y = openRawSocket(yjsSocketUrl(node, roomId, await token('yws')));
    const v8 = await joinV8(roomId, 'lb');
    await y.waitForFrames(1);
    v8.sendMessages({ type: CLIENT_MSG.UPDATE_YDOC, update: toBase64(textUpdate('second')) });

    // The /y socket never asked for the document: the only update it can get is the relayed one.
    const [, relayed] = await y.waitForFrames(2);
    const doc = new Y.Doc();
    Y.applyUpdate(doc, yFrameUpdate(relayed!.data as Uint8Array)!);
    expect(doc.getText('second').toString()).toBe('second');
    expect((await fetchRoomDoc(node, roomId)).getText('second').toString()).toBe('second');
  });
});

async function room(roomId: string, target: NodeAddress = node): Promise<string> {
  await restClient(target).createRoom(roomId, {
    defaultAccesses: ['room:write'],
    organizationId: ORG,
  });
  return roomId;
}

async function roomWithContent(roomId: string): Promise<string> {
  await room(roomId);
  await restClient(node).sendYjsBinaryUpdate(roomId, contentUpdate());
  return roomId;
}

function token(userId: string, target: NodeAddress = node): Promise<string> {
  return mintIdToken(target, userId, { organizationId: ORG });
}

/** A raw /v8 socket that joined and fetched the document, as `@liveblocks/yjs` does. */
async function joinV8(roomId: string, userId: string): Promise<RawSocket> {
  const socket = openRawSocket(liveblocksSocketUrl(node, '/v8', roomId, await token(userId)));
  await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
  // The server relays Yjs updates only to clients that fetched the document.
  socket.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
  await socket.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_YDOC);
  return socket;
}

function actorOf(socket: RawSocket): number {
  return socket.messages().find((m) => m.type === SERVER_MSG.ROOM_STATE)!.actor as number;
}

/** The room still answers fetches with its content and relays new writes to the bystander. */
async function expectRoomServing(roomId: string, bystander: RawSocket): Promise<void> {
  const writer = await joinV8(roomId, 'writer');
  writer.sendMessages({ type: CLIENT_MSG.UPDATE_YDOC, update: toBase64(textUpdate('later')) });
  await bystander.waitForMessage(
    (m) => m.type === SERVER_MSG.UPDATE_YDOC && m.stateVector === null,
  );

  const doc = await fetchRoomDoc(node, roomId);
  expect(doc.getText('text').toString()).toBe(CONTENT);
  expect(doc.getText('later').toString()).toBe('later');
}

function contentUpdate(): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('text').insert(0, CONTENT);
  return Y.encodeStateAsUpdate(doc);
}

function textUpdate(name: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText(name).insert(0, name);
  return Y.encodeStateAsUpdate(doc);
}

/** Bytes that claim many structs and then end: Yjs throws reading them. */
function unreadableUpdate(): Uint8Array {
  return new Uint8Array([0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
}

function slug(name: string): string {
  return name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
}
