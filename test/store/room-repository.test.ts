import { beforeAll, describe, expect, it } from 'vitest';

import { WeftError } from '../../src/errors.js';
import type { RoomListFilter, RoomRecord } from '../../src/store/room-repository.js';
import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

/** More rooms than one list batch reads (500 rows), so that filtered lists cross batches. */
const SEEDED_ROOMS = 1200;

function room(id: string, changes: Partial<RoomRecord> = {}): RoomRecord {
  return {
    id,
    organizationId: 'default',
    createdAt: '2025-01-01T00:00:00.000Z',
    lastConnectionAt: null,
    defaultAccesses: ['room:write'],
    usersAccesses: { ann: ['room:read', 'room:presence:write'] },
    groupsAccesses: { team: ['room:write'] },
    metadata: { color: 'blue', tags: ['a', 'b'] },
    ...changes,
  };
}

function seededId(i: number): string {
  return `room-${String(i).padStart(4, '0')}`;
}

/** Every page of a list, following `nextCursor` to the end. */
async function listAll(store: Store, filter: RoomListFilter) {
  const pages: { ids: string[]; nextCursor: string | null }[] = [];
  let startingAfter = filter.startingAfter;
  for (;;) {
    const page = await store.rooms.list({ ...filter, startingAfter });
    pages.push({ ids: page.rooms.map((r) => r.id), nextCursor: page.nextCursor });
    if (page.nextCursor === null) return pages;
    startingAfter = page.nextCursor;
  }
}

describe.each(storeFactories)('RoomRepository ($name)', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  describe('create and createIfAbsent', () => {
    it('creates a room and reads it back unchanged', async () => {
      const created = room('create-1', { organizationId: 'acme' });

      await store.rooms.create(created);

      expect(await store.rooms.get('create-1')).toEqual(created);
      expect(await store.rooms.get('create-missing')).toBeUndefined();
    });

    it('refuses an id that exists with ROOM_ALREADY_EXISTS (409) and keeps the first room', async () => {
      await store.rooms.create(room('create-2', { metadata: { first: 'yes' } }));

      const second = store.rooms.create(room('create-2', { metadata: { first: 'no' } }));

      await expect(second).rejects.toBeInstanceOf(WeftError);
      await expect(second).rejects.toMatchObject({ code: 'ROOM_ALREADY_EXISTS', status: 409 });
      expect((await store.rooms.get('create-2'))?.metadata).toEqual({ first: 'yes' });
    });

    it('createIfAbsent creates a missing room', async () => {
      const result = await store.rooms.createIfAbsent(room('absent-1', { organizationId: 'acme' }));

      expect(result.created).toBe(true);
      expect(result.room.organizationId).toBe('acme');
      expect((await store.rooms.get('absent-1'))?.organizationId).toBe('acme');
    });

    it('createIfAbsent returns the existing room with its own organization', async () => {
      const existing = room('absent-2', { organizationId: 'acme', metadata: { owner: 'ann' } });
      await store.rooms.create(existing);

      const result = await store.rooms.createIfAbsent(
        room('absent-2', { organizationId: 'globex', metadata: { owner: 'bob' } }),
      );

      expect(result).toEqual({ room: existing, created: false });
    });

    it('concurrent createIfAbsent calls create the room exactly once', async () => {
      const proposals = ['a', 'b', 'c', 'd', 'e', 'f'].map((org) =>
        room('absent-3', { organizationId: org }),
      );

      const results = await Promise.all(proposals.map((p) => store.rooms.createIfAbsent(p)));

      expect(results.filter((r) => r.created)).toHaveLength(1);
      const winner = results.find((r) => r.created)!.room.organizationId;
      expect(results.map((r) => r.room.organizationId)).toEqual(proposals.map(() => winner));
      expect((await store.rooms.get('absent-3'))?.organizationId).toBe(winner);
    });
  });

  describe('update', () => {
    it('writes accesses, metadata and the last connection time, not the organization', async () => {
      await store.rooms.create(room('update-1', { organizationId: 'acme' }));

      const updated = await store.rooms.update('update-1', (r) => ({
        ...r,
        defaultAccesses: [],
        usersAccesses: { bob: ['room:write'] },
        groupsAccesses: {},
        metadata: { color: 'red' },
        lastConnectionAt: '2025-02-02T00:00:00.000Z',
      }));

      const stored = await store.rooms.get('update-1');
      expect(stored).toEqual(updated);
      expect(stored).toMatchObject({
        organizationId: 'acme',
        defaultAccesses: [],
        usersAccesses: { bob: ['room:write'] },
        metadata: { color: 'red' },
        lastConnectionAt: '2025-02-02T00:00:00.000Z',
      });
    });

    it('returns undefined for a missing room without calling change', async () => {
      let called = false;

      const result = await store.rooms.update('update-missing', (r) => {
        called = true;
        return r;
      });

      expect(result).toBeUndefined();
      expect(called).toBe(false);
    });

    it('writes nothing when change throws, and later updates still work', async () => {
      await store.rooms.create(room('update-2', { metadata: { v: '1' } }));

      const refused = store.rooms.update('update-2', () => {
        throw new WeftError('ORGANIZATION_IMMUTABLE');
      });

      await expect(refused).rejects.toMatchObject({ code: 'ORGANIZATION_IMMUTABLE' });
      expect((await store.rooms.get('update-2'))?.metadata).toEqual({ v: '1' });
      await store.rooms.update('update-2', (r) => ({ ...r, metadata: { v: '2' } }));
      expect((await store.rooms.get('update-2'))?.metadata).toEqual({ v: '2' });
    });

    it('loses no change when many updates of one room run at once', async () => {
      await store.rooms.create(room('update-3', { metadata: {} }));
      const keys = Array.from({ length: 8 }, (_, i) => `k${i}`);

      await Promise.all(
        keys.map((key) =>
          store.rooms.update('update-3', (r) => ({
            ...r,
            metadata: { ...r.metadata, [key]: 'x' },
          })),
        ),
      );

      expect(Object.keys((await store.rooms.get('update-3'))!.metadata).sort()).toEqual(keys);
    });

    it('touchConnection records the time of the latest connection', async () => {
      await store.rooms.create(room('touch-1'));

      await store.rooms.touchConnection('touch-1', '2025-03-03T03:03:03.000Z');

      expect((await store.rooms.get('touch-1'))?.lastConnectionAt).toBe('2025-03-03T03:03:03.000Z');
    });
  });

  describe('delete and rename', () => {
    async function fillRoom(id: string) {
      await store.rooms.create(room(id, { organizationId: 'acme' }));
      await store.roomLog.append(id, [
        Buffer.from('one'),
        Buffer.from('two'),
        Buffer.from('three'),
      ]);
      await store.roomLog.putSnapshot(id, 1, Buffer.from('snap'), '2025-01-02T00:00:00.000Z');
      await store.db
        .insertInto('subscription_settings')
        .values({
          room_id: id,
          user_id: 'ann',
          organization_id: 'acme',
          threads: 'all',
          text_mentions: 'mine',
        })
        .execute();
    }

    async function settingsOf(id: string) {
      return store.db
        .selectFrom('subscription_settings')
        .select('user_id')
        .where('room_id', '=', id)
        .execute();
    }

    it('delete removes the room with its log, snapshot and subscription settings', async () => {
      await fillRoom('delete-1');

      expect(await store.rooms.delete('delete-1')).toBe(true);

      expect(await store.rooms.get('delete-1')).toBeUndefined();
      expect(await store.roomLog.readAfter('delete-1', 0)).toEqual([]);
      expect(await store.roomLog.getSnapshot('delete-1')).toBeUndefined();
      expect(await settingsOf('delete-1')).toEqual([]);
    });

    it('delete of a missing room returns false; a room made again under the id starts empty', async () => {
      await fillRoom('delete-2');
      await store.rooms.delete('delete-2');

      expect(await store.rooms.delete('delete-2')).toBe(false);
      await store.rooms.create(room('delete-2'));
      expect(await store.roomLog.append('delete-2', [Buffer.from('new')])).toEqual([1]);
      expect(await store.rooms.actorCounter('delete-2')).toBe(0);
    });

    it('rename moves the room, its log, snapshot, settings and actor counter', async () => {
      await fillRoom('rename-1');
      await store.rooms.nextActor('rename-1');
      await store.rooms.nextActor('rename-1');

      const renamed = await store.rooms.rename('rename-1', 'rename-1b');

      expect(renamed).toMatchObject({ id: 'rename-1b', organizationId: 'acme' });
      expect(await store.rooms.get('rename-1')).toBeUndefined();
      expect(await store.rooms.get('rename-1b')).toEqual(renamed);
      expect(await store.roomLog.readAfter('rename-1', 0)).toEqual([]);
      expect(await store.roomLog.readAfter('rename-1b', 0)).toEqual([
        { seq: 2, entry: Buffer.from('two') },
        { seq: 3, entry: Buffer.from('three') },
      ]);
      expect(await store.roomLog.getSnapshot('rename-1b')).toEqual({
        seq: 1,
        snapshot: Buffer.from('snap'),
      });
      expect(await settingsOf('rename-1b')).toEqual([{ user_id: 'ann' }]);
      expect(await store.rooms.nextActor('rename-1b')).toBe(3);
    });

    it('rename refuses a taken id with ROOM_ALREADY_EXISTS and changes neither room', async () => {
      await fillRoom('rename-2');
      await store.rooms.create(room('rename-2-taken', { organizationId: 'globex' }));

      const refused = store.rooms.rename('rename-2', 'rename-2-taken');

      await expect(refused).rejects.toMatchObject({ code: 'ROOM_ALREADY_EXISTS' });
      expect((await store.rooms.get('rename-2'))?.organizationId).toBe('acme');
      expect((await store.rooms.get('rename-2-taken'))?.organizationId).toBe('globex');
      expect(await store.roomLog.readAfter('rename-2', 0)).toHaveLength(2);
      expect(await store.roomLog.readAfter('rename-2-taken', 0)).toEqual([]);
    });

    it('rename of a missing room fails with ROOM_NOT_FOUND', async () => {
      await expect(store.rooms.rename('rename-missing', 'anything')).rejects.toMatchObject({
        code: 'ROOM_NOT_FOUND',
      });
    });
  });

  describe('actor ids', () => {
    it('hands out strictly increasing actor ids, none twice, under concurrent calls', async () => {
      await store.rooms.create(room('actors-1'));

      const ids = await Promise.all(
        Array.from({ length: 40 }, () => store.rooms.nextActor('actors-1')),
      );

      expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      expect(await store.rooms.actorCounter('actors-1')).toBe(40);
      expect(await store.rooms.nextActor('actors-1')).toBe(41);
    });

    it('fails with ROOM_NOT_FOUND for a missing room, whose counter reads 0', async () => {
      await expect(store.rooms.nextActor('actors-missing')).rejects.toMatchObject({
        code: 'ROOM_NOT_FOUND',
      });
      expect(await store.rooms.actorCounter('actors-missing')).toBe(0);
    });

    it('raiseActorCounter raises the counter but never lowers it', async () => {
      await store.rooms.create(room('actors-2'));

      await store.rooms.raiseActorCounter('actors-2', 100);
      expect(await store.rooms.nextActor('actors-2')).toBe(101);
      await store.rooms.raiseActorCounter('actors-2', 50);
      expect(await store.rooms.nextActor('actors-2')).toBe(102);
      await store.rooms.raiseActorCounter('actors-missing', 7);
    });
  });

  describe('list', () => {
    /** A store of its own: lists without an organization filter see every room. */
    let listed: Store;
    const all = Array.from({ length: SEEDED_ROOMS }, (_, i) => ({
      id: seededId(i),
      organizationId: i % 3 === 0 ? 'org-b' : 'org-a',
      color: i % 7 === 0 ? 'red' : 'blue',
    }));

    beforeAll(async () => {
      listed = await factory.open();
      const rows = all.map(({ id, organizationId, color }) => ({
        id,
        organization_id: organizationId,
        created_at: '2025-01-01T00:00:00.000Z',
        last_connection_at: null,
        default_accesses: '[]',
        users_accesses: '{}',
        groups_accesses: '{}',
        metadata: JSON.stringify({ color }),
      }));
      // Reversed, so that the order of a list cannot come from the order of insertion.
      rows.reverse();
      for (let i = 0; i < rows.length; i += 300) {
        await listed.db
          .insertInto('rooms')
          .values(rows.slice(i, i + 300))
          .execute();
      }
    });

    it('pages through every room once, in id order, ending with a null cursor', async () => {
      const pages = await listAll(listed, { limit: 100 });

      expect(pages).toHaveLength(12);
      expect(pages.flatMap((p) => p.ids)).toEqual(all.map((r) => r.id));
      expect(pages[0]!.nextCursor).toBe(seededId(99));
      expect(pages.at(-1)!.nextCursor).toBeNull();
    });

    it('sets nextCursor exactly when more rooms follow, at the batch size and beyond', async () => {
      const batch = await listed.rooms.list({ limit: 500 });
      const allButOne = await listed.rooms.list({ limit: SEEDED_ROOMS - 1 });
      const everything = await listed.rooms.list({ limit: SEEDED_ROOMS });

      expect(batch.rooms).toHaveLength(500);
      expect(batch.nextCursor).toBe(seededId(499));
      expect(allButOne.nextCursor).toBe(seededId(SEEDED_ROOMS - 2));
      expect(everything.rooms).toHaveLength(SEEDED_ROOMS);
      expect(everything.nextCursor).toBeNull();
    });

    it('lists only the rooms of the organization asked for', async () => {
      const pages = await listAll(listed, { organizationId: 'org-b', limit: 150 });

      const expected = all.filter((r) => r.organizationId === 'org-b').map((r) => r.id);
      expect(pages.flatMap((p) => p.ids)).toEqual(expected);
      expect(pages.map((p) => p.ids.length)).toEqual([150, 150, 100]);
      expect((await listed.rooms.list({ organizationId: 'nobody', limit: 10 })).rooms).toEqual([]);
    });

    it('lists only ids that start with the prefix', async () => {
      const page = await listed.rooms.list({ idPrefix: 'room-01', limit: 1000 });

      expect(page.rooms.map((r) => r.id)).toEqual(
        Array.from({ length: 100 }, (_, i) => seededId(100 + i)),
      );
      expect(page.nextCursor).toBeNull();
    });

    it('resumes after the cursor, also combined with organization and prefix', async () => {
      const page = await listed.rooms.list({
        organizationId: 'org-a',
        idPrefix: 'room-02',
        startingAfter: seededId(250),
        limit: 5,
      });

      expect(page.rooms.map((r) => r.id)).toEqual(
        [251, 253, 254, 256, 257].map((i) => seededId(i)),
      );
      expect(page.nextCursor).toBe(seededId(257));
    });

    it('applies the in-memory filter across batches, filling pages and cursors exactly', async () => {
      const red = all.filter((r) => r.color === 'red').map((r) => r.id);
      const where = (r: RoomRecord) => r.metadata.color === 'red';

      const pages = await listAll(listed, { where, limit: 60 });

      expect(pages.flatMap((p) => p.ids)).toEqual(red);
      expect(pages.map((p) => p.ids.length)).toEqual([60, 60, 52]);
      expect(pages[0]!.nextCursor).toBe(red[59]);
      expect(pages.at(-1)!.nextCursor).toBeNull();
    });

    it('finds rare matches far apart in different batches', async () => {
      const rare = (r: RoomRecord) => [0, 499, 500, 1000, 1199].includes(Number(r.id.slice(5)));

      const first = await listed.rooms.list({ where: rare, limit: 3 });
      const rest = await listed.rooms.list({
        where: rare,
        limit: 3,
        startingAfter: first.nextCursor!,
      });

      expect(first.rooms.map((r) => r.id)).toEqual([0, 499, 500].map((i) => seededId(i)));
      expect(first.nextCursor).toBe(seededId(500));
      expect(rest.rooms.map((r) => r.id)).toEqual([1000, 1199].map((i) => seededId(i)));
      expect(rest.nextCursor).toBeNull();
    });

    it('orders ids by code point and matches prefixes exactly, whatever the collation', async () => {
      const own = await factory.open();
      const ids = [
        'a',
        'B',
        'b',
        'a-b',
        'ab',
        'Ab',
        'a b',
        'a%',
        'a_',
        'ä',
        'a😀',
        'a\u{ffff}z',
        'ac',
      ];
      for (const id of ids) await own.rooms.create(room(id));
      // UTF-8 byte order is code point order (UTF-16 order, JavaScript's, differs above U+FFFF).
      const byCodePoint = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

      const everything = await own.rooms.list({ limit: 100 });
      const prefixA = await own.rooms.list({ idPrefix: 'a', limit: 100 });
      const prefixAb = await own.rooms.list({ idPrefix: 'a-', limit: 100 });
      const prefixEmoji = await own.rooms.list({ idPrefix: 'a😀', limit: 100 });

      expect(everything.rooms.map((r) => r.id)).toEqual(byCodePoint);
      expect(prefixA.rooms.map((r) => r.id)).toEqual(
        byCodePoint.filter((id) => id.startsWith('a')),
      );
      expect(prefixAb.rooms.map((r) => r.id)).toEqual(['a-b']);
      expect(prefixEmoji.rooms.map((r) => r.id)).toEqual(['a😀']);
    });
  });
});
