import { beforeAll, describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

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
  ySyncStep1Frame,
  yjsSocketUrl,
  type NodeAddress,
  type RawSocket,
} from '../support/clients.js';
import { startNode } from '../support/start-node.js';

/**
 * The organization boundary, over every socket protocol: token kind (ID, access) × token
 * organization (same, other, default) × protocol (/v8, /v7, /y) against a room of "acme".
 */

const ORG = 'acme';
const OTHER_ORG = 'globex';
const ROOM = 'acme-roadmap';
const USER = 'matrix-user';
const SECRET_TEXT = 'acme secret roadmap';
const SECRET_PRESENCE = 'acme-occupant-cursor';
const INTRUDER_TEXT = 'written by an intruder';

type Kind = 'id' | 'access';
type OrgCase = 'same' | 'other' | 'default';
type Protocol = '/v8' | '/v7' | '/y';

const ORGANIZATION_OF: Record<OrgCase, string | undefined> = {
  same: ORG,
  other: OTHER_ORG,
  default: undefined,
};

const CASES = (['id', 'access'] as const).flatMap((kind) =>
  (['same', 'other', 'default'] as const).flatMap((org) =>
    (['/v8', '/v7', '/y'] as const).map((protocol) => ({ kind, org, protocol })),
  ),
);

let node: NodeAddress;

beforeAll(async () => {
  node = await startNode();
  const rest = restClient(node);
  await rest.createRoom(ROOM, {
    defaultAccesses: [],
    usersAccesses: { [USER]: ['room:write'] },
    organizationId: ORG,
  });

  const doc = new Y.Doc();
  doc.getText('text').insert(0, SECRET_TEXT);
  await rest.sendYjsBinaryUpdate(ROOM, Y.encodeStateAsUpdate(doc));
});

describe('organization isolation matrix', () => {
  it.each(CASES.filter((c) => c.org === 'same'))(
    'admits a $kind token of the room’s own organization over $protocol and serves the room',
    async ({ kind, protocol }) => {
      const token = await tokenFor(kind, ORGANIZATION_OF.same);

      if (protocol === '/y') {
        const socket = openRawSocket(yjsSocketUrl(node, ROOM, token));
        await socket.opened();
        socket.ws.send(ySyncStep1Frame(new Y.Doc()));
        await expectYjsText(socket, SECRET_TEXT);
        return;
      }

      const socket = openRawSocket(liveblocksSocketUrl(node, protocol, ROOM, token));
      const state = await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
      expect(state).toMatchObject({ actor: expect.any(Number) });
      socket.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
      const reply = await socket.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_YDOC);
      const doc = new Y.Doc();
      Y.applyUpdate(doc, fromBase64(reply.update as string));
      expect(doc.getText('text').toString()).toBe(SECRET_TEXT);
    },
  );

  it.each(CASES.filter((c) => c.org !== 'same'))(
    'closes a $kind token of the $org organization over $protocol with 4001 before sending anything of the room',
    async ({ kind, org, protocol }) => {
      const occupant = await openOccupant();
      const token = await tokenFor(kind, ORGANIZATION_OF[org]);

      const intruder = openRawSocket(
        protocol === '/y'
          ? yjsSocketUrl(node, ROOM, token)
          : liveblocksSocketUrl(node, protocol, ROOM, token),
      );
      intruder.ws.once('open', () => attemptWrites(intruder, protocol));
      const close = await intruder.closed();

      expect(intruder.refusedWithStatus, describeSocket(intruder)).toBeUndefined();
      expect(close.code, describeSocket(intruder)).toBe(4001);
      expect(close.reason).toMatch(/organi[sz]ation/i);
      expect(intruder.frames, describeSocket(intruder)).toEqual([]);

      // A broadcast sent after the close reaches the occupant after anything the intruder
      // could have caused there.
      await restClient(node).broadcastEvent(ROOM, { marker: 'after-the-attempt' });
      await occupant.waitForMessage((m) => m.type === SERVER_MSG.BROADCASTED_EVENT);
      const seen = occupant.messages();
      expect(seen.filter((m) => m.type === SERVER_MSG.USER_JOINED)).toEqual([]);
      expect(JSON.stringify(seen)).not.toContain('intruder');
      expect((await fetchRoomDoc(node, ROOM)).getText('text').toString()).toBe(SECRET_TEXT);
    },
  );

  it('closes a token of acme with 4001 in a room of the default organization', async () => {
    const roomId = 'default-org-room';
    await restClient(node).createRoom(roomId, { defaultAccesses: ['room:write'] });
    const token = await mintAccessToken(node, USER, { organizationId: ORG });

    for (const url of [
      liveblocksSocketUrl(node, '/v8', roomId, token),
      yjsSocketUrl(node, roomId, token),
    ]) {
      const socket = openRawSocket(url);
      const close = await socket.closed();
      expect(close.code, describeSocket(socket)).toBe(4001);
      expect(close.reason).toMatch(/organi[sz]ation/i);
      expect(socket.frames).toEqual([]);
    }
  });

  it('never creates a second room when another organization’s token asks for the room id', async () => {
    const token = await mintAccessToken(node, USER, { organizationId: OTHER_ORG });

    for (const url of [
      liveblocksSocketUrl(node, '/v8', ROOM, token),
      liveblocksSocketUrl(node, '/v7', ROOM, token),
      yjsSocketUrl(node, ROOM, token),
    ]) {
      const socket = openRawSocket(url);
      expect((await socket.closed()).code, describeSocket(socket)).toBe(4001);
    }

    const rest = restClient(node);
    expect((await rest.getRoom(ROOM)).organizationId).toBe(ORG);
    const otherRooms = await rest.getRooms({ organizationId: OTHER_ORG });
    expect(otherRooms.data.map((room) => room.id)).not.toContain(ROOM);
    const everyRoom = await rest.getRooms({ limit: 100 });
    expect(everyRoom.data.filter((room) => room.id === ROOM)).toHaveLength(1);
  });
});

describe('organizations racing for a missing room id', () => {
  it('lets exactly one organization create the room and closes every other joiner with 4001', async () => {
    const roomId = 'raced-room';
    const attempts = await Promise.all(
      [...Array(8).keys()].map(async (i) => {
        const organizationId = i % 2 === 0 ? ORG : OTHER_ORG;
        const token = await mintAccessToken(node, `racer-${i}`, { organizationId });
        return { organizationId, token, protocol: i % 4 < 2 ? '/v8' : '/y' };
      }),
    );

    const sockets = attempts.map((attempt) => ({
      ...attempt,
      socket: openRawSocket(
        attempt.protocol === '/y'
          ? yjsSocketUrl(node, roomId, attempt.token)
          : liveblocksSocketUrl(node, '/v8', roomId, attempt.token),
      ),
    }));
    const outcomes = await Promise.all(
      sockets.map(({ socket }) =>
        socket.waitForFrames(1).then(
          () => 'joined',
          () => 'closed',
        ),
      ),
    );

    const owner = (await restClient(node).getRoom(roomId)).organizationId;
    sockets.forEach(({ organizationId, socket }, i) => {
      if (organizationId === owner) {
        expect(outcomes[i], describeSocket(socket)).toBe('joined');
      } else {
        expect(socket.closeInfo?.code, describeSocket(socket)).toBe(4001);
        expect(socket.frames).toEqual([]);
      }
    });
    const everyRoom = await restClient(node).getRooms({ limit: 100 });
    expect(everyRoom.data.filter((room) => room.id === roomId)).toHaveLength(1);
  });
});

async function tokenFor(kind: Kind, organizationId: string | undefined): Promise<string> {
  const options = organizationId === undefined ? {} : { organizationId };
  return kind === 'id'
    ? mintIdToken(node, USER, options)
    : mintAccessToken(node, USER, { ...options, allow: { '*': ['*:write'] } });
}

/** A legitimate acme connection with presence: what an intruder must never see or reach. */
async function openOccupant(): Promise<RawSocket> {
  const token = await mintIdToken(node, USER, {
    organizationId: ORG,
    userInfo: { name: 'occupant' },
  });
  const occupant = openRawSocket(liveblocksSocketUrl(node, '/v8', ROOM, token));
  await occupant.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
  occupant.sendMessages({
    type: CLIENT_MSG.UPDATE_PRESENCE,
    data: { cursor: SECRET_PRESENCE },
    targetActor: -1,
  });
  return occupant;
}

/** What an intruder would send the moment its socket opens, to write before being closed. */
function attemptWrites(intruder: RawSocket, protocol: Protocol): void {
  const doc = new Y.Doc();
  doc.getText('text').insert(0, INTRUDER_TEXT);
  const update = Y.encodeStateAsUpdate(doc);

  if (protocol === '/y') {
    intruder.ws.send(ySyncStep1Frame(new Y.Doc()));
    intruder.ws.send(yUpdateFrame(update));
    return;
  }
  intruder.sendMessages(
    { type: CLIENT_MSG.UPDATE_PRESENCE, data: { name: 'intruder' }, targetActor: -1 },
    { type: CLIENT_MSG.BROADCAST_EVENT, event: { from: 'intruder' } },
    { type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR },
    { type: CLIENT_MSG.UPDATE_YDOC, update: toBase64(update) },
  );
}

/** Waits until the y-protocols frames received hold a document whose text is `expected`. */
async function expectYjsText(socket: RawSocket, expected: string): Promise<void> {
  await vi.waitFor(
    () => {
      const doc = new Y.Doc();
      for (const frame of socket.frames) {
        const update = frame.binary ? yFrameUpdate(frame.data as Uint8Array) : undefined;
        if (update) Y.applyUpdate(doc, update);
      }
      expect(doc.getText('text').toString(), describeSocket(socket)).toBe(expected);
    },
    { timeout: 10_000, interval: 10 },
  );
}
