import { afterEach, describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';

import { LocalBus } from '../../src/cluster/local-bus.js';
import { DEFAULT_LIMITS, type Limits } from '../../src/config.js';
import { WeftError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { RoomEvent, RoomPeer } from '../../src/rooms/room-peer.js';
import { RoomRegistry } from '../../src/rooms/room-registry.js';
import type { Room } from '../../src/rooms/room.js';
import type { RoomRecord } from '../../src/store/room-repository.js';
import { openStore, type Store } from '../../src/store/store.js';

const logger = createLogger({ level: 'silent' });

interface Fixture {
  store: Store;
  bus: LocalBus;
  registry: RoomRegistry;
}

let fixtures: Fixture[] = [];

afterEach(async () => {
  for (const { registry, bus, store } of fixtures) {
    await registry.close();
    await bus.close();
    await store.close();
  }
  fixtures = [];
});

async function open(limits: Partial<Limits> = {}, store?: Store): Promise<Fixture> {
  store ??= await openStore({ databaseUrl: 'sqlite::memory:', logger });
  const bus = new LocalBus({ nodeId: 'n1', roomLog: store.roomLog, rooms: store.rooms, logger });
  const registry = new RoomRegistry({ bus, logger, limits: { ...DEFAULT_LIMITS, ...limits } });
  const fixture = { store, bus, registry };
  fixtures.push(fixture);
  return fixture;
}

async function record(store: Store, id: string): Promise<RoomRecord> {
  return store.rooms.create({
    id,
    organizationId: 'org',
    createdAt: new Date().toISOString(),
    lastConnectionAt: null,
    defaultAccesses: ['room:write'],
    usersAccesses: {},
    groupsAccesses: {},
    metadata: {},
  });
}

/** A connection stand-in that records what the room tells it. */
function peer(actor: number): RoomPeer & { events: RoomEvent[]; closedWith?: WeftError } {
  const fake = {
    actor,
    user: { id: `user-${actor}`, info: {}, scopes: ['*:write'] },
    canWrite: true,
    events: [] as RoomEvent[],
    closedWith: undefined as WeftError | undefined,
    deliver: (event: RoomEvent) => fake.events.push(event),
    close: (error: WeftError) => {
      fake.closedWith = error;
    },
    reauthorize: () => {},
  };
  return fake;
}

/** Appends `count` Yjs updates, each inserting one character, and waits until applied. */
async function write(room: Room, count: number) {
  const doc = new Y.Doc();
  let seq = 0;
  for (let i = 0; i < count; i += 1) {
    const before = Y.encodeStateVector(doc);
    doc.getText('t').insert(doc.getText('t').length, String(i % 10));
    seq = await room.submitYjsUpdate(0, null, Y.encodeStateAsUpdate(doc, before), false);
  }
  await room.waitApplied(seq);
}

const text = (room: Room) => room.documents.get(null)?.getText('t').toString() ?? '';

describe('RoomRegistry', () => {
  it('loads a room from its latest snapshot and the log entries after it', async () => {
    const first = await open({ snapshotEveryEntries: 4 });
    const rec = await record(first.store, 'r');
    const room = await first.registry.acquire(rec);
    await write(room, 10);
    room.unpin();
    await first.registry.close();
    await first.bus.close();
    const snapshot = await first.store.roomLog.getSnapshot('r');

    const second = await open({}, first.store);
    const reloaded = await second.registry.acquire(rec);

    expect(snapshot?.seq).toBe(10);
    expect(text(reloaded)).toBe('0123456789');
    expect(reloaded.lastSeq).toBe(10);
    reloaded.unpin();
  });

  it('writes a snapshot every snapshotEveryEntries entries and trims the log', async () => {
    const { store, registry } = await open({ snapshotEveryEntries: 5 });
    const room = await registry.acquire(await record(store, 'r'));

    await write(room, 12);

    await vi.waitFor(async () => expect((await store.roomLog.getSnapshot('r'))?.seq).toBe(10));
    expect((await store.roomLog.readAfter('r', 0)).map((entry) => entry.seq)).toEqual([11, 12]);
    room.unpin();
  });

  it('unloads a room idle for roomIdleUnloadMs with a snapshot covering every entry', async () => {
    const { store, registry } = await open({ roomIdleUnloadMs: 50 });
    const room = await registry.acquire(await record(store, 'r'));
    await write(room, 3);

    room.unpin();

    await vi.waitFor(() => expect(registry.size).toBe(0));
    expect(room.state).toBe('unloading');
    expect((await store.roomLog.getSnapshot('r'))?.seq).toBe(3);
    expect(await store.roomLog.readAfter('r', 0)).toEqual([]);
  });

  it('keeps a room loaded while a connection is in it', async () => {
    const { store, registry } = await open({ roomIdleUnloadMs: 30 });
    const room = await registry.acquire(await record(store, 'r'));
    const connection = peer(1);
    room.presence.join(connection);
    room.unpin();

    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(registry.get('r')).toBe(room);

    room.presence.leave(connection);
    await vi.waitFor(() => expect(registry.get('r')).toBeUndefined());
  });

  it('loads a room asked for while it unloads again, with its whole state', async () => {
    const { store, registry } = await open({ roomIdleUnloadMs: 1 });
    const rec = await record(store, 'r');
    const room = await registry.acquire(rec);
    await write(room, 2);
    room.unpin();
    await vi.waitFor(() => expect(room.state).toBe('unloading'));

    const again = await registry.acquire(rec);

    expect(again).not.toBe(room);
    expect(again.state).toBe('ready');
    expect(text(again)).toBe('01');
    again.unpin();
  });

  it('unloads an idle room to load another at maxRoomsLoaded, and refuses when all are busy', async () => {
    const { store, registry } = await open({ maxRoomsLoaded: 2 });
    const a = await registry.acquire(await record(store, 'a'));
    const b = await registry.acquire(await record(store, 'b'));
    a.unpin();

    const c = await registry.acquire(await record(store, 'c'));
    const refusal = registry.acquire(await record(store, 'd'));

    expect(registry.get('a')).toBeUndefined();
    expect(registry.get('c')).toBe(c);
    await expect(refusal).rejects.toMatchObject({ code: 'OVERLOADED', closeCode: 1013 });
    b.unpin();
    c.unpin();
  });

  it('tells the connections of a room about joins, leaves, presence and Yjs updates', async () => {
    const { store, registry } = await open();
    const room = await registry.acquire(await record(store, 'r'));
    const alice = peer(1);
    const bob = peer(2);
    room.presence.join(alice);

    expect(room.presence.join(bob).map((member) => member.actor)).toEqual([1]);
    room.presence.updatePresence(2, { cursor: 1 }, { full: true, targetActor: -1 });
    await write(room, 1);
    room.presence.leave(bob);

    expect(alice.events.map((event) => event.type)).toEqual([
      'user-joined',
      'presence',
      'yjs-update',
      'user-left',
    ]);
    expect(bob.events.map((event) => event.type)).toEqual(['yjs-update']);
    room.unpin();
  });

  it('drops a room: its connections are closed with the error and its log forgotten', async () => {
    const { store, registry } = await open();
    const room = await registry.acquire(await record(store, 'r'));
    await write(room, 2);
    const connection = peer(1);
    room.presence.join(connection);
    room.unpin();

    await registry.drop('r', new WeftError('ROOM_DELETED'), { forget: true });

    expect(connection.closedWith?.code).toBe('ROOM_DELETED');
    expect(registry.get('r')).toBeUndefined();
    expect(await store.roomLog.readAfter('r', 0)).toEqual([]);
    expect(await store.roomLog.getSnapshot('r')).toBeUndefined();
  });
});
