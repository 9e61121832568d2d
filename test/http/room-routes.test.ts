import { Liveblocks, LiveblocksError } from '@liveblocks/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { RealtimeHooks } from '../../src/http/app-context.js';
import { createTestDatabase, dropTestDatabase } from '../support/postgres.js';
import { startNode, type TestNode } from '../support/start-node.js';

let node: TestNode;
let liveblocks: Liveblocks;
let prefixCounter = 0;

describe.each(['sqlite', 'postgres'])('rooms REST API on %s', (dialect) => {
  let databaseUrl: string | undefined;

  beforeAll(async () => {
    databaseUrl = dialect === 'postgres' ? await createTestDatabase() : undefined;
    node = await startNode(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {});
    liveblocks = new Liveblocks({ secret: node.secret, baseUrl: node.url });
  });

  it('runs on the store it names', () => {
    expect(node.store.dialect).toBe(dialect);
  });

  afterAll(async () => {
    await node.close();
    if (databaseUrl !== undefined) await dropTestDatabase(databaseUrl);
  });

  describeRoomRoutes();
});

/** A fresh id prefix per test, so tests share one node without seeing each other's rooms. */
function unique(label: string): string {
  prefixCounter += 1;
  return `${label}-${prefixCounter}-`;
}

/** Calls the REST API without the SDK, for inputs the SDK would refuse or cannot express. */
async function rest(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${node.secret}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text === '' ? {} : JSON.parse(text) };
}

async function sdkError(promise: Promise<unknown>): Promise<LiveblocksError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(LiveblocksError);
  return error as LiveblocksError;
}

/** Records the realtime hook calls of the node. */
function recordHooks(): string[] {
  const calls: string[] = [];
  const hooks: RealtimeHooks = {
    roomDeleted: async (id) => void calls.push(`deleted ${id}`),
    roomRenamed: async (from, to) => void calls.push(`renamed ${from} ${to}`),
    roomUpdated: async (id) => void calls.push(`updated ${id}`),
  };
  (node.context as { realtime?: RealtimeHooks }).realtime = hooks;
  return calls;
}

function describeRoomRoutes() {
  describe('POST /v2/rooms', () => {
    it('creates a room in the default organization, with the shape the SDK parses', async () => {
      const id = `${unique('create')}room`;

      const room = await liveblocks.createRoom(id, {
        defaultAccesses: ['room:read', 'room:presence:write'],
        usersAccesses: { alice: ['room:write'] },
        groupsAccesses: { team: ['*:write'] },
        metadata: { color: 'blue', tags: ['a', 'b'] },
      });

      expect(room).toEqual({
        type: 'room',
        id,
        organizationId: 'default',
        createdAt: expect.any(Date),
        lastConnectionAt: undefined,
        defaultAccesses: ['room:read', 'room:presence:write'],
        usersAccesses: { alice: ['room:write'] },
        groupsAccesses: { team: ['*:write'] },
        metadata: { color: 'blue', tags: ['a', 'b'] },
      });
      expect(Math.abs(room.createdAt.getTime() - Date.now())).toBeLessThan(60_000);
    });

    it('stores the organization given by organizationId or the tenantId alias', async () => {
      const prefix = unique('org');

      const acme = await liveblocks.createRoom(`${prefix}a`, {
        defaultAccesses: [],
        organizationId: 'acme',
      });
      const legacy = await liveblocks.createRoom(`${prefix}b`, {
        defaultAccesses: [],
        tenantId: 'globex',
      });

      expect(acme.organizationId).toBe('acme');
      expect(legacy.organizationId).toBe('globex');
      expect((await liveblocks.getRoom(`${prefix}a`)).organizationId).toBe('acme');
    });

    it('answers 409 ROOM_ALREADY_EXISTS when the id is taken, in any organization', async () => {
      const id = `${unique('dup')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const error = await sdkError(
        liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'globex' }),
      );
      const raw = await rest('POST', '/v2/rooms', { id, defaultAccesses: [] });

      expect(error.status).toBe(409);
      expect(raw).toMatchObject({ status: 409, json: { error: 'ROOM_ALREADY_EXISTS' } });
      expect((await liveblocks.getRoom(id)).organizationId).toBe('acme');
    });

    it('returns the existing room unchanged with ?idempotent (getOrCreateRoom)', async () => {
      const id = `${unique('idem')}room`;
      const first = await liveblocks.getOrCreateRoom(id, {
        defaultAccesses: ['room:write'],
        metadata: { v: '1' },
      });

      const second = await liveblocks.getOrCreateRoom(id, {
        defaultAccesses: [],
        metadata: { v: '2' },
      });

      expect(second).toEqual(first);
      expect(second.metadata).toEqual({ v: '1' });
    });

    it('refuses ?idempotent for an id that exists in another organization', async () => {
      const id = `${unique('idem-org')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const error = await sdkError(
        liveblocks.getOrCreateRoom(id, { defaultAccesses: [], organizationId: 'globex' }),
      );

      expect(error.status).toBe(409);
      expect(error.message).toContain('"acme"');
    });

    it('accepts ids with slashes, spaces, unicode and 128 characters', async () => {
      const prefix = unique('ids');
      const ids = [
        `${prefix}team/doc:1`,
        `${prefix}a b?c#d%e`,
        `${prefix}ümlaut-日本-🎉`,
        `${prefix}${'x'.repeat(128 - prefix.length)}`,
      ];

      for (const id of ids) {
        await liveblocks.createRoom(id, { defaultAccesses: [] });
        expect((await liveblocks.getRoom(id)).id).toBe(id);
      }
    });

    it.each([
      ['an empty id', ''],
      ['an id of 129 characters', 'x'.repeat(129)],
      ['an id with *', 'a*b'],
      ['an id with a control character', 'a\nb'],
    ])('refuses %s with 422', async (_label, id) => {
      const response = await rest('POST', '/v2/rooms', { id, defaultAccesses: [] });

      expect(response.status).toBe(422);
      expect(response.json).toMatchObject({ error: 'UNPROCESSABLE_ENTITY' });
      expect(response.json.message).toMatch(/^id: /);
    });

    it.each([
      ['no defaultAccesses', {}, /defaultAccesses is required/],
      ['an unknown scope', { defaultAccesses: ['room:admin'] }, /"room:admin"/],
      ['a scope list that is a string', { defaultAccesses: 'room:write' }, /array of strings/],
      [
        '101 user ids',
        {
          defaultAccesses: [],
          usersAccesses: Object.fromEntries(
            Array.from({ length: 101 }, (_, i) => [`u${i}`, ['room:write']]),
          ),
        },
        /at most 100 ids/,
      ],
      [
        '101 group ids',
        {
          defaultAccesses: [],
          groupsAccesses: Object.fromEntries(
            Array.from({ length: 101 }, (_, i) => [`g${i}`, ['room:read']]),
          ),
        },
        /at most 100 ids/,
      ],
      [
        'a null user access on create',
        { defaultAccesses: [], usersAccesses: { alice: null } },
        /usersAccesses\["alice"\]/,
      ],
      [
        '51 metadata keys',
        {
          defaultAccesses: [],
          metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])),
        },
        /at most 50 keys/,
      ],
      [
        'a metadata key of 41 characters',
        { defaultAccesses: [], metadata: { ['k'.repeat(41)]: 'v' } },
        /1–40 characters/,
      ],
      [
        'a metadata value of 257 characters',
        { defaultAccesses: [], metadata: { k: 'v'.repeat(257) } },
        /at most 256 characters/,
      ],
      [
        'a number in metadata',
        { defaultAccesses: [], metadata: { k: 5 } },
        /string or a list of strings/,
      ],
      [
        'a number in a metadata list',
        { defaultAccesses: [], metadata: { k: ['a', 1] } },
        /string or a list of strings/,
      ],
      [
        'an unknown property',
        { defaultAccesses: [], metdata: {} },
        /body\/metdata is not a known property/,
      ],
      ['a numeric organizationId', { defaultAccesses: [], organizationId: 7 }, /organizationId/],
      [
        'contradicting organizationId and tenantId',
        { defaultAccesses: [], organizationId: 'a', tenantId: 'b' },
        /different organizations/,
      ],
    ])(
      'refuses %s with a 422 that names the problem, creating nothing',
      async (_label, fields, message) => {
        const id = `${unique('bad-create')}room`;

        const response = await rest('POST', '/v2/rooms', { id, ...fields });

        expect(response.status).toBe(422);
        expect(response.json.error).toBe('UNPROCESSABLE_ENTITY');
        expect(response.json.message).toMatch(message);
        expect((await rest('GET', `/v2/rooms/${encodeURIComponent(id)}`)).status).toBe(404);
      },
    );

    it('refuses a numeric id instead of turning it into a string', async () => {
      const response = await rest('POST', '/v2/rooms', { id: 12345, defaultAccesses: [] });

      expect(response.status).toBe(422);
      expect((await rest('GET', '/v2/rooms/12345')).status).toBe(404);
    });
  });

  describe('GET /v2/rooms/{roomId}', () => {
    it('answers 404 ROOM_NOT_FOUND for an unknown id', async () => {
      const error = await sdkError(liveblocks.getRoom('no-such-room'));
      const raw = await rest('GET', '/v2/rooms/no-such-room');

      expect(error.status).toBe(404);
      expect(raw.json).toMatchObject({ error: 'ROOM_NOT_FOUND' });
    });

    it('reports lastConnectionAt as a Date once someone has connected', async () => {
      const id = `${unique('conn')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [] });
      const at = '2030-01-02T03:04:05.000Z';

      await node.store.rooms.touchConnection(id, at);
      const room = await liveblocks.getRoom(id);

      expect(room.lastConnectionAt).toEqual(new Date(at));
    });
  });

  describe('POST /v2/rooms/{roomId} (update)', () => {
    it('merges accesses and metadata, removing keys set to null', async () => {
      const id = `${unique('update')}room`;
      await liveblocks.createRoom(id, {
        defaultAccesses: ['room:write'],
        usersAccesses: { alice: ['room:write'], bob: ['room:read'] },
        groupsAccesses: { team: ['room:write'] },
        metadata: { color: 'blue', size: 'L' },
      });
      const calls = recordHooks();

      const room = await liveblocks.updateRoom(id, {
        defaultAccesses: [],
        usersAccesses: { bob: null, carol: ['*:read', 'comments:write'] },
        groupsAccesses: { team: null },
        metadata: { color: null, shape: ['round'] },
      });

      expect(room).toMatchObject({
        id,
        defaultAccesses: [],
        usersAccesses: { alice: ['room:write'], carol: ['*:read', 'comments:write'] },
        groupsAccesses: {},
        metadata: { size: 'L', shape: ['round'] },
      });
      expect(await liveblocks.getRoom(id)).toEqual(room);
      expect(calls).toEqual([`updated ${id}`]);
    });

    it('accepts the room’s own organizationId and refuses another with ORGANIZATION_IMMUTABLE', async () => {
      const id = `${unique('org-update')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const same = await rest('POST', `/v2/rooms/${id}`, {
        organizationId: 'acme',
        metadata: { ok: 'yes' },
      });
      const other = await rest('POST', `/v2/rooms/${id}`, {
        organizationId: 'globex',
        metadata: { ok: 'no' },
      });
      const alias = await rest('POST', `/v2/rooms/${id}`, { tenantId: 'globex' });

      expect(same.status).toBe(200);
      expect(other.status).toBe(422);
      expect(other.json.error).toBe('ORGANIZATION_IMMUTABLE');
      expect(other.json.message).toContain('"acme"');
      expect(alias.json.error).toBe('ORGANIZATION_IMMUTABLE');
      const room = await liveblocks.getRoom(id);
      expect(room.organizationId).toBe('acme');
      expect(room.metadata).toEqual({ ok: 'yes' });
    });

    it('writes nothing when one field of the update is invalid', async () => {
      const id = `${unique('atomic')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: ['room:write'], metadata: { a: '1' } });

      const response = await rest('POST', `/v2/rooms/${id}`, {
        defaultAccesses: [],
        metadata: { a: '2', b: 'x'.repeat(300) },
      });

      expect(response.status).toBe(422);
      expect(await liveblocks.getRoom(id)).toMatchObject({
        defaultAccesses: ['room:write'],
        metadata: { a: '1' },
      });
    });

    it('counts the limits on the merged room', async () => {
      const id = `${unique('merged')}room`;
      await liveblocks.createRoom(id, {
        defaultAccesses: [],
        metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])),
      });

      const tooMany = await rest('POST', `/v2/rooms/${id}`, { metadata: { extra: 'v' } });
      const swap = await rest('POST', `/v2/rooms/${id}`, { metadata: { k0: null, extra: 'v' } });

      expect(tooMany.status).toBe(422);
      expect(tooMany.json.message).toMatch(/at most 50 keys, this would make 51/);
      expect(swap.status).toBe(200);
    });

    it('answers 404 for an unknown room', async () => {
      const error = await sdkError(liveblocks.updateRoom('no-such-room', { metadata: { a: 'b' } }));

      expect(error.status).toBe(404);
    });
  });

  describe('POST /v2/rooms/{roomId}/update-organization-id', () => {
    it('refuses to move a room to another organization', async () => {
      const id = `${unique('move')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const response = await rest('POST', `/v2/rooms/${id}/update-organization-id`, {
        fromOrganizationId: 'acme',
        toOrganizationId: 'globex',
      });

      expect(response.status).toBe(422);
      expect(response.json.error).toBe('ORGANIZATION_IMMUTABLE');
      expect(response.json.message).toMatch(/cannot move to "globex"/);
      expect((await liveblocks.getRoom(id)).organizationId).toBe('acme');
    });

    it('refuses a move out of the default organization too', async () => {
      const id = `${unique('move-default')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [] });

      const response = await rest('POST', `/v2/rooms/${id}/update-organization-id`, {
        toOrganizationId: 'acme',
      });

      expect(response.json.error).toBe('ORGANIZATION_IMMUTABLE');
      expect((await liveblocks.getRoom(id)).organizationId).toBe('default');
    });

    it('accepts a "move" to the organization the room already has, changing nothing', async () => {
      const id = `${unique('stay')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const response = await rest('POST', `/v2/rooms/${id}/update-organization-id`, {
        fromOrganizationId: 'acme',
        toOrganizationId: 'acme',
      });
      const wrongFrom = await rest('POST', `/v2/rooms/${id}/update-organization-id`, {
        fromOrganizationId: 'globex',
        toOrganizationId: 'acme',
      });

      expect(response).toMatchObject({ status: 200, json: { id, organizationId: 'acme' } });
      expect(wrongFrom.json.error).toBe('ORGANIZATION_IMMUTABLE');
    });

    it('answers 404 for an unknown room and 422 without toOrganizationId', async () => {
      const unknown = await rest('POST', '/v2/rooms/no-such-room/update-organization-id', {
        toOrganizationId: 'acme',
      });
      const missing = await rest('POST', '/v2/rooms/no-such-room/update-organization-id', {});

      expect(unknown.json.error).toBe('ROOM_NOT_FOUND');
      expect(missing.status).toBe(422);
    });
  });

  describe('DELETE /v2/rooms/{roomId}', () => {
    it('deletes the room with 204, tells the realtime side, and 404s afterwards', async () => {
      const id = `${unique('delete')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [] });
      const calls = recordHooks();

      const response = await fetch(`${node.url}/v2/rooms/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${node.secret}` },
      });
      const again = await sdkError(liveblocks.deleteRoom(id));

      expect(response.status).toBe(204);
      expect(await response.text()).toBe('');
      expect(calls).toEqual([`deleted ${id}`]);
      expect((await sdkError(liveblocks.getRoom(id))).status).toBe(404);
      expect(again.status).toBe(404);
    });

    it('frees the id for a new room', async () => {
      const id = `${unique('reuse')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      await liveblocks.deleteRoom(id);
      const again = await liveblocks.createRoom(id, {
        defaultAccesses: [],
        organizationId: 'globex',
      });

      expect(again.organizationId).toBe('globex');
    });
  });

  describe('POST /v2/rooms/{roomId}/upsert', () => {
    it('creates a missing room from create and update together', async () => {
      const id = `${unique('upsert-new')}room`;

      const room = await liveblocks.upsertRoom(id, {
        update: { metadata: { color: 'red' }, usersAccesses: { alice: ['room:write'] } },
        create: { defaultAccesses: ['room:read'], organizationId: 'acme' },
      });

      expect(room).toMatchObject({
        id,
        organizationId: 'acme',
        defaultAccesses: ['room:read'],
        usersAccesses: { alice: ['room:write'] },
        metadata: { color: 'red' },
      });
      expect(room.createdAt).toBeInstanceOf(Date);
    });

    it('updates an existing room and ignores create', async () => {
      const id = `${unique('upsert-old')}room`;
      await liveblocks.createRoom(id, {
        defaultAccesses: ['room:write'],
        metadata: { a: '1', b: '2' },
        organizationId: 'acme',
      });

      const room = await liveblocks.upsertRoom(id, {
        update: { metadata: { a: null, c: '3' } },
        create: { defaultAccesses: [], organizationId: 'globex' },
      });

      expect(room).toMatchObject({
        organizationId: 'acme',
        defaultAccesses: ['room:write'],
        metadata: { b: '2', c: '3' },
      });
    });

    it('creates a private room in "default" when nothing names accesses or an organization', async () => {
      const id = `${unique('upsert-bare')}room`;

      const room = await liveblocks.upsertRoom(id, { update: { metadata: { a: '1' } } });

      expect(room).toMatchObject({ organizationId: 'default', defaultAccesses: [] });
    });

    it('refuses an organization change through update', async () => {
      const id = `${unique('upsert-org')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [], organizationId: 'acme' });

      const response = await rest('POST', `/v2/rooms/${id}/upsert`, {
        update: { organizationId: 'globex', metadata: { a: '1' } },
      });

      expect(response.json.error).toBe('ORGANIZATION_IMMUTABLE');
      expect((await liveblocks.getRoom(id)).metadata).toEqual({});
    });

    it('refuses an empty update and an invalid one, creating nothing', async () => {
      const id = `${unique('upsert-bad')}room`;

      const empty = await rest('POST', `/v2/rooms/${id}/upsert`, { update: {} });
      const invalid = await rest('POST', `/v2/rooms/${id}/upsert`, {
        update: { metadata: { k: 1 } },
        create: { defaultAccesses: [] },
      });
      const missing = await rest('POST', `/v2/rooms/${id}/upsert`, {});

      expect(empty.status).toBe(422);
      expect(invalid.status).toBe(422);
      expect(missing.status).toBe(422);
      expect((await rest('GET', `/v2/rooms/${id}`)).status).toBe(404);
    });
  });

  describe('POST /v2/rooms/{roomId}/update-room-id', () => {
    it('moves the room to its new id and tells the realtime side', async () => {
      const prefix = unique('rename');
      await liveblocks.createRoom(`${prefix}old`, {
        defaultAccesses: ['room:write'],
        metadata: { a: '1' },
        organizationId: 'acme',
      });
      const calls = recordHooks();

      const room = await liveblocks.updateRoomId({
        currentRoomId: `${prefix}old`,
        newRoomId: `${prefix}new`,
      });

      expect(room).toMatchObject({
        id: `${prefix}new`,
        organizationId: 'acme',
        metadata: { a: '1' },
      });
      expect(room.createdAt).toBeInstanceOf(Date);
      expect(calls).toEqual([`renamed ${prefix}old ${prefix}new`]);
      expect((await sdkError(liveblocks.getRoom(`${prefix}old`))).status).toBe(404);
      expect((await liveblocks.getRoom(`${prefix}new`)).metadata).toEqual({ a: '1' });
    });

    it('answers 409 when the new id is taken and 404 when the room is unknown', async () => {
      const prefix = unique('rename-bad');
      await liveblocks.createRoom(`${prefix}a`, { defaultAccesses: [] });
      await liveblocks.createRoom(`${prefix}b`, { defaultAccesses: [] });

      const taken = await sdkError(
        liveblocks.updateRoomId({ currentRoomId: `${prefix}a`, newRoomId: `${prefix}b` }),
      );
      const unknown = await sdkError(
        liveblocks.updateRoomId({ currentRoomId: `${prefix}zzz`, newRoomId: `${prefix}c` }),
      );

      expect(taken.status).toBe(409);
      expect(unknown.status).toBe(404);
      expect((await liveblocks.getRoom(`${prefix}a`)).id).toBe(`${prefix}a`);
    });

    it('refuses an invalid new id with 422', async () => {
      const id = `${unique('rename-id')}room`;
      await liveblocks.createRoom(id, { defaultAccesses: [] });

      const response = await rest('POST', `/v2/rooms/${id}/update-room-id`, { newRoomId: 'a*' });

      expect(response.status).toBe(422);
      expect(response.json.message).toMatch(/^newRoomId: /);
    });
  });

  describe('GET /v2/rooms', () => {
    it('pages through every room with limit, startingAfter and nextCursor', async () => {
      const prefix = unique('page');
      const ids = Array.from({ length: 25 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
      for (const id of ids) await liveblocks.createRoom(id, { defaultAccesses: [] });
      const query = `roomId^"${prefix}"`;

      const first = await liveblocks.getRooms({ query, limit: 10 });
      const second = await liveblocks.getRooms({
        query,
        limit: 10,
        startingAfter: first.nextCursor!,
      });
      const third = await liveblocks.getRooms({
        query,
        limit: 10,
        startingAfter: second.nextCursor!,
      });

      expect(first.data).toHaveLength(10);
      expect(second.data).toHaveLength(10);
      expect(third.data).toHaveLength(5);
      expect(third.nextCursor).toBeNull();
      expect([...first.data, ...second.data, ...third.data].map((room) => room.id)).toEqual(ids);
      expect(first.data[0]!.createdAt).toBeInstanceOf(Date);
    });

    it('sets no cursor when the last page is exactly full', async () => {
      const prefix = unique('exact');
      for (const suffix of ['a', 'b']) {
        await liveblocks.createRoom(`${prefix}${suffix}`, { defaultAccesses: [] });
      }

      const page = await liveblocks.getRooms({
        query: { roomId: { startsWith: prefix } },
        limit: 2,
      });

      expect(page.data).toHaveLength(2);
      expect(page.nextCursor).toBeNull();
    });

    it('returns 20 rooms by default and iterRooms walks every page', async () => {
      const prefix = unique('iter');
      for (let i = 0; i < 23; i += 1) {
        await liveblocks.createRoom(`${prefix}${String(i).padStart(2, '0')}`, {
          defaultAccesses: [],
        });
      }

      const page = await liveblocks.getRooms({ query: `roomId^"${prefix}"` });
      const all: string[] = [];
      for await (const room of liveblocks.iterRooms(
        { query: { roomId: { startsWith: prefix } } },
        { pageSize: 20 },
      )) {
        all.push(room.id);
      }

      expect(page.data).toHaveLength(20);
      expect(page.nextCursor).toBe(`${prefix}19`);
      expect(all).toHaveLength(23);
    });

    it('returns only the rooms of the organization asked for', async () => {
      const prefix = unique('isolation');
      await liveblocks.createRoom(`${prefix}a1`, { defaultAccesses: [], organizationId: 'org-a' });
      await liveblocks.createRoom(`${prefix}a2`, { defaultAccesses: [], organizationId: 'org-a' });
      await liveblocks.createRoom(`${prefix}b1`, { defaultAccesses: [], organizationId: 'org-b' });
      await liveblocks.createRoom(`${prefix}d1`, { defaultAccesses: [] });
      const query = `roomId^"${prefix}"`;

      const a = await liveblocks.getRooms({ organizationId: 'org-a', query });
      const b = await liveblocks.getRooms({ tenantId: 'org-b', query });
      const defaults = await liveblocks.getRooms({ organizationId: 'default', query });
      const all = await liveblocks.getRooms({ query });
      const none = await liveblocks.getRooms({ organizationId: 'org-c', query });

      expect(a.data.map((room) => room.id)).toEqual([`${prefix}a1`, `${prefix}a2`]);
      expect(b.data.map((room) => room.id)).toEqual([`${prefix}b1`]);
      expect(defaults.data.map((room) => room.id)).toEqual([`${prefix}d1`]);
      expect(all.data).toHaveLength(4);
      expect(none.data).toEqual([]);
    });

    it('filters on userId and groupIds, with OR between them', async () => {
      const prefix = unique('access');
      await liveblocks.createRoom(`${prefix}alice`, {
        defaultAccesses: [],
        usersAccesses: { alice: ['room:write'] },
      });
      await liveblocks.createRoom(`${prefix}team`, {
        defaultAccesses: [],
        groupsAccesses: { team: ['room:read'] },
      });
      await liveblocks.createRoom(`${prefix}ops`, {
        defaultAccesses: [],
        groupsAccesses: { ops: [] },
      });
      await liveblocks.createRoom(`${prefix}public`, { defaultAccesses: ['room:write'] });
      const query = `roomId^"${prefix}"`;
      const ids = async (filter: { userId?: string; groupIds?: string[] }) =>
        (await liveblocks.getRooms({ query, ...filter })).data.map((room) =>
          room.id.slice(prefix.length),
        );

      expect(await ids({ userId: 'alice' })).toEqual(['alice']);
      expect(await ids({ groupIds: ['team'] })).toEqual(['team']);
      expect(await ids({ groupIds: ['team', 'ops'] })).toEqual(['ops', 'team']);
      expect(await ids({ userId: 'alice', groupIds: ['ops'] })).toEqual(['alice', 'ops']);
      expect(await ids({ userId: 'bob' })).toEqual([]);
    });

    it('filters on metadata with the query language, as a string or as the SDK object form', async () => {
      const prefix = unique('meta');
      await liveblocks.createRoom(`${prefix}1`, {
        defaultAccesses: [],
        metadata: { roomType: 'whiteboard', creator: 'florent' },
      });
      await liveblocks.createRoom(`${prefix}2`, {
        defaultAccesses: [],
        metadata: { roomType: 'whiteboard', creator: "o'neil" },
      });
      await liveblocks.createRoom(`${prefix}3`, {
        defaultAccesses: [],
        metadata: { roomType: ['whiteboard'], creator: 'florent' },
      });
      const ids = async (query: Parameters<typeof liveblocks.getRooms>[0]) =>
        (await liveblocks.getRooms(query)).data.map((room) => room.id.slice(prefix.length));

      expect(
        await ids({ query: `roomId^'${prefix}' AND metadata['roomType']:'whiteboard'` }),
      ).toEqual(['1', '2']);
      expect(
        await ids({
          query: `metadata["roomType"]:"whiteboard" metadata["creator"]:"florent" roomId^"${prefix}"`,
        }),
      ).toEqual(['1']);
      expect(
        await ids({ query: { roomId: { startsWith: prefix }, metadata: { creator: "o'neil" } } }),
      ).toEqual(['2']);
      expect(await ids({ query: `roomId^"${prefix}" and metadata["creator"]^"flo"` })).toEqual([
        '1',
        '3',
      ]);
      expect(await ids({ query: `roomId:"${prefix}3"` })).toEqual(['3']);
    });

    it('accepts the legacy metadata.KEY=value parameters', async () => {
      const prefix = unique('legacy');
      await liveblocks.createRoom(`${prefix}1`, {
        defaultAccesses: [],
        metadata: { color: 'red' },
      });
      await liveblocks.createRoom(`${prefix}2`, {
        defaultAccesses: [],
        metadata: { color: 'blue' },
      });

      const response = await rest(
        'GET',
        `/v2/rooms?metadata.color=red&query=${encodeURIComponent(`roomId^"${prefix}"`)}`,
      );

      expect((response.json.data as { id: string }[]).map((room) => room.id)).toEqual([
        `${prefix}1`,
      ]);
    });

    it.each([
      ['roomId~"x"', /character 7: expected : \(equals\) or \^ \(starts with\)/],
      ['metadata["n"]:5', /5 is not a quoted string/],
      ['metadata["n"]>5', /operator > is not supported/],
      ['roomId^"a" OR roomId^"b"', /character 12: OR is not supported/],
      ['NOT roomId^"a"', /NOT is not supported/],
      ['(roomId^"a")', /parentheses are not supported/],
      ['roomId^"abc', /unterminated string/],
      ['owner:"x"', /unknown field "owner"/],
      ['metadata.color:"x"', /expected \[ after metadata/],
      ['roomId^"a" AND', /expected a condition after AND/],
      ['metadata[color]:"x"', /expected a quoted metadata key/],
      ['roomId^"\\q"', /invalid escape/],
    ])('refuses the malformed query %s with a 422 naming the problem', async (query, message) => {
      const error = await sdkError(liveblocks.getRooms({ query }));
      const raw = await rest('GET', `/v2/rooms?query=${encodeURIComponent(query)}`);

      expect(error.status).toBe(422);
      expect(raw.json.error).toBe('UNPROCESSABLE_ENTITY');
      expect(raw.json.message).toMatch(message);
    });

    it.each([
      ['limit=0', /limit/],
      ['limit=101', /limit/],
      ['limit=ten', /limit/],
      ['userId=', /userId/],
      [
        `groupIds=${Array.from({ length: 101 }, (_, i) => `g${i}`).join(',')}`,
        /at most 100 groups/,
      ],
      [`query=${'x'.repeat(2001)}`, /query/],
    ])('refuses %s with 422', async (params, message) => {
      const response = await rest('GET', `/v2/rooms?${params}`);

      expect(response.status).toBe(422);
      expect(response.json.message).toMatch(message);
    });
  });
}
