import { LiveblocksError } from '@liveblocks/node';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import {
  CLIENT_MSG,
  EMPTY_STATE_VECTOR,
  SERVER_MSG,
  describe as describeSocket,
  enterRoom,
  fetchRoomDoc,
  fromBase64,
  liveblocksSocketUrl,
  mintAccessToken,
  mintIdToken,
  openLiveblocksYjs,
  openRawSocket,
  restClient,
  toBase64,
  yFrameUpdate,
  yUpdateFrame,
  ySyncStep1Frame,
  yjsSocketUrl,
  type RawSocket,
} from '../support/clients.js';
import { startNode, type TestNode } from '../support/start-node.js';

/**
 * Room permissions at join time and during the session: ID tokens resolve the room's
 * default/group/user accesses, access tokens match their patterns, read-only connections
 * receive everything and change nothing.
 */

const ORG = 'acme';

let node: TestNode;

beforeAll(async () => {
  node = await startNode();
});

describe('ID tokens and the room’s accesses', () => {
  it('admits a user granted room:write in usersAccesses of a private room', async () => {
    await createRoom('private-user', {
      defaultAccesses: [],
      usersAccesses: { alice: ['room:write'] },
    });

    const alice = await enterRoom(node, 'private-user', { token: () => idToken('alice') });

    expect(alice.room.getSelf()?.canWrite).toBe(true);
  });

  it.each(['/v8', '/y'] as const)(
    'closes a user missing from a private room’s accesses with 4001 over %s',
    async (path) => {
      await createRoom(`private-stranger${path.replace('/', '-')}`, {
        defaultAccesses: [],
        usersAccesses: { alice: ['room:write'] },
      });
      const roomId = `private-stranger${path.replace('/', '-')}`;
      const token = await idToken('mallory');

      const socket = openRawSocket(
        path === '/y'
          ? yjsSocketUrl(node, roomId, token)
          : liveblocksSocketUrl(node, path, roomId, token),
      );
      const close = await socket.closed();

      expect(close.code, describeSocket(socket)).toBe(4001);
      expect(socket.frames).toEqual([]);
    },
  );

  it('admits a member of a group granted in groupsAccesses and refuses other groups', async () => {
    await createRoom('group-room', {
      defaultAccesses: [],
      groupsAccesses: { editors: ['room:write'] },
    });

    const editor = await enterRoom(node, 'group-room', {
      token: () => idToken('erin', ['viewers', 'editors']),
    });
    expect(editor.room.getSelf()?.canWrite).toBe(true);

    const outsider = openRawSocket(
      liveblocksSocketUrl(node, '/v8', 'group-room', await idToken('oscar', ['viewers'])),
    );
    expect((await outsider.closed()).code, describeSocket(outsider)).toBe(4001);
  });

  it('lets a user entry override the defaults and the groups', async () => {
    await createRoom('override-room', {
      defaultAccesses: ['room:write'],
      groupsAccesses: { editors: ['room:write'] },
      usersAccesses: { carol: ['room:read', 'room:presence:write'] },
    });

    const carol = await enterRoom(node, 'override-room', {
      token: () => idToken('carol', ['editors']),
    });
    const dave = await enterRoom(node, 'override-room', { token: () => idToken('dave') });

    expect(carol.room.getSelf()?.canWrite).toBe(false);
    expect(dave.room.getSelf()?.canWrite).toBe(true);
  });

  it.each(['/v8', '/y'] as const)(
    'closes an ID token asking for a room that does not exist over %s, creating nothing',
    async (path) => {
      const roomId = `missing${path.replace('/', '-')}`;
      const token = await idToken('alice');

      const socket = openRawSocket(
        path === '/y'
          ? yjsSocketUrl(node, roomId, token)
          : liveblocksSocketUrl(node, path, roomId, token),
      );
      const close = await socket.closed();

      expect(close.code, describeSocket(socket)).toBe(4001);
      expect(socket.frames).toEqual([]);
      const error = await restClient(node)
        .getRoom(roomId)
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LiveblocksError);
      expect((error as LiveblocksError).status).toBe(404);
    },
  );
});

describe('access tokens and their patterns', () => {
  it('admits rooms matching a prefix pattern and closes others with 4001', async () => {
    await createRoom('team-alpha', { defaultAccesses: [] });
    await createRoom('elsewhere', { defaultAccesses: ['room:write'] });
    const token = () =>
      mintAccessToken(node, 'pat', { organizationId: ORG, allow: { 'team-*': ['*:write'] } });

    const inside = await enterRoom(node, 'team-alpha', { token });
    expect(inside.room.getSelf()?.canWrite).toBe(true);

    const outside = openRawSocket(liveblocksSocketUrl(node, '/v8', 'elsewhere', await token()));
    expect((await outside.closed()).code, describeSocket(outside)).toBe(4001);
  });

  it('gives a read pattern a read-only connection', async () => {
    await createRoom('read-pattern', { defaultAccesses: [] });

    const reader = await enterRoom(node, 'read-pattern', {
      token: () =>
        mintAccessToken(node, 'ria', {
          organizationId: ORG,
          allow: { 'read-pattern': ['*:read'] },
        }),
    });

    expect(reader.room.getSelf()?.canWrite).toBe(false);
  });

  it.each(['/v8', '/y'] as const)(
    'creates a missing room in the token’s own organization on join over %s',
    async (path) => {
      const roomId = `globex-new${path.replace('/', '-')}`;
      const token = await mintAccessToken(node, 'gina', {
        organizationId: 'globex',
        allow: { 'globex-new-*': ['*:write'] },
      });

      const socket = openRawSocket(
        path === '/y'
          ? yjsSocketUrl(node, roomId, token)
          : liveblocksSocketUrl(node, path, roomId, token),
      );
      if (path === '/y') {
        await socket.waitForFrames(1);
      } else {
        await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
      }

      const room = await restClient(node).getRoom(roomId);
      expect(room.organizationId).toBe('globex');
    },
  );
});

describe('read-only connections', () => {
  const ROOM = 'read-only-room';
  const WRITER_TEXT = 'written by the writer';

  beforeAll(async () => {
    await createRoom(ROOM, {
      defaultAccesses: ['room:write'],
      usersAccesses: {
        reader: ['room:read', 'room:presence:write'],
      },
    });
  });

  it('receives the document, presence and events', async () => {
    const writer = await openLiveblocksYjs(node, ROOM, {
      token: () => idToken('writer'),
      initialPresence: { role: 'writer' },
    });
    writer.doc.getText('text').insert(0, WRITER_TEXT);
    const reader = await openLiveblocksYjs(node, ROOM, {
      token: () => idToken('reader'),
      initialPresence: { role: 'reader' },
    });
    const events: unknown[] = [];
    reader.room.subscribe('event', ({ event }) => events.push(event));

    await vi.waitFor(() => expect(reader.doc.getText('text').toString()).toBe(WRITER_TEXT));
    await vi.waitFor(() =>
      expect(reader.room.getOthers().map((other) => other.presence)).toContainEqual(
        expect.objectContaining({ role: 'writer' }),
      ),
    );
    await vi.waitFor(() =>
      expect(writer.room.getOthers().map((other) => other.presence)).toContainEqual(
        expect.objectContaining({ role: 'reader' }),
      ),
    );
    writer.room.broadcastEvent({ hello: 'reader' });
    await vi.waitFor(() => expect(events).toContainEqual({ hello: 'reader' }));
    expect(reader.room.getSelf()?.canWrite).toBe(false);
  });

  it('applies Yjs updates a read-only socket sends anyway nowhere, and logs them', async () => {
    const writer = await openLiveblocksYjs(node, ROOM, { token: () => idToken('writer') });
    const observer = await openLiveblocksYjs(node, ROOM, { token: () => idToken('observer') });
    const logsBefore = node.logs.length;
    const readerToken = await idToken('reader');

    const v8 = openRawSocket(liveblocksSocketUrl(node, '/v8', ROOM, readerToken));
    await v8.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    v8.sendMessages({ type: CLIENT_MSG.UPDATE_YDOC, update: toBase64(forbiddenUpdate('v8')) });
    // A fetch sent after the write on the same socket is answered after the write was handled.
    v8.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
    const reply = await v8.waitForMessage(
      (m) => m.type === SERVER_MSG.UPDATE_YDOC && m.stateVector != null,
    );

    const y = openRawSocket(yjsSocketUrl(node, ROOM, readerToken));
    await y.opened();
    y.ws.send(yUpdateFrame(forbiddenUpdate('y')));
    y.ws.send(ySyncStep1Frame(new Y.Doc()));
    await vi.waitFor(() => expect(yStep2(y), describeSocket(y)).toBeDefined());

    // The room's total order puts any accepted forbidden write before this one.
    writer.doc.getText('after').insert(0, 'after');
    await vi.waitFor(() => expect(observer.doc.getText('after').toString()).toBe('after'));

    const served = new Y.Doc();
    Y.applyUpdate(served, fromBase64(reply.update as string));
    for (const message of v8.messages()) {
      if (message.type === SERVER_MSG.UPDATE_YDOC && message.guid === undefined) {
        Y.applyUpdate(served, fromBase64(message.update as string));
      }
    }
    for (const frame of y.frames) {
      const update = frame.binary ? yFrameUpdate(frame.data as Uint8Array) : undefined;
      if (update) Y.applyUpdate(served, update);
    }
    for (const doc of [served, observer.doc, writer.doc, await fetchRoomDoc(node, ROOM)]) {
      expect(doc.getText('forbidden').toString()).toBe('');
    }
    const newLogs = node.logs.slice(logsBefore);
    expect(
      newLogs.some(
        (record) =>
          (record.level as number) >= 30 &&
          /read-?only|permission|forbidden|not allowed|denied|refused|rejected|dropped|ignored/i.test(
            String(record.msg),
          ),
      ),
      JSON.stringify(newLogs.map((record) => record.msg)),
    ).toBe(true);
  });
});

async function createRoom(
  roomId: string,
  accesses: {
    defaultAccesses: ('room:write' | 'room:read' | 'room:presence:write')[];
    usersAccesses?: Record<
      string,
      ['room:write'] | ['room:read', 'room:presence:write'] | ['room:read']
    >;
    groupsAccesses?: Record<string, ['room:write'] | ['room:read', 'room:presence:write']>;
  },
): Promise<void> {
  await restClient(node).createRoom(roomId, { ...accesses, organizationId: ORG } as never);
}

function idToken(userId: string, groupIds: string[] = []): Promise<string> {
  return mintIdToken(node, userId, { organizationId: ORG, groupIds });
}

/** An update that writes into the "forbidden" text, standalone so that it always applies. */
function forbiddenUpdate(via: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('forbidden').insert(0, `forbidden via ${via}`);
  return Y.encodeStateAsUpdate(doc);
}

function yStep2(socket: RawSocket): Uint8Array | undefined {
  for (const frame of socket.frames) {
    if (!frame.binary) continue;
    const bytes = frame.data as Uint8Array;
    if (bytes[0] === 0 && bytes[1] === 1) return yFrameUpdate(bytes);
  }
  return undefined;
}
