import type { Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import type { RoomKey } from '../../src/cluster/bus.js';
import { RedisBus, type RedisBusOptions } from '../../src/cluster/redis-bus.js';
import { NODES_KEY, roomKeys } from '../../src/cluster/redis-keys.js';
import { scriptSource } from '../../src/cluster/redis-scripts.js';
import { WeftError } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';
import { busRecorder, bytes, createBusRoom, quietLogger, range } from '../support/bus-recorder.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import { storeFactories } from '../support/store-factories.js';
import { runBusContract } from './bus-contract.js';

let redis: TestRedisServer;
let admin: Redis;
let store: Store;
const buses: RedisBus[] = [];
let roomCounter = 0;

beforeAll(async () => {
  redis = await startRedisServer();
  admin = redis.client();
  store = await storeFactories[0]!.open();
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

runBusContract('RedisBus on one Redis server', async () => ({
  bus: await RedisBus.open({
    redisUrl: redis.url,
    store,
    nodeId: `contract-${++roomCounter}`,
    logger: quietLogger(),
  }),
  prepareRoom: (room) => createRoom(room),
  renameRoom: async (roomId, newRoomId) => {
    await store.rooms.rename(roomId, newRoomId);
  },
  dispose: async () => {},
}));

describe('RedisBus keys', () => {
  it('puts every key and the channel of a room on one Cluster slot, ids URL-encoded', () => {
    const keys = roomKeys({ organizationId: 'org/1', roomId: 'a}b{c' });

    expect(keys.tag).toBe('{org%2F1/a%7Db%7Bc}');
    for (const name of [keys.log, keys.seq, keys.actors, keys.lease, keys.writers, keys.channel]) {
      expect(name.startsWith(`weft:${keys.tag}:`)).toBe(true);
    }
  });

  it('keeps rooms apart whose org and room ids only differ in where a slash falls', () => {
    const first = roomKeys({ organizationId: 'a/b', roomId: 'c' });
    const second = roomKeys({ organizationId: 'a', roomId: 'b/c' });

    expect(first.log).not.toBe(second.log);
  });
});

describe('RedisBus on one Redis server', () => {
  it('delivers the same seq order on two nodes that append to one room concurrently', async () => {
    const room = await newRoom();
    const [a, b] = await Promise.all([openBus('node-a'), openBus('node-b')]);
    const seenA = recorder();
    const seenB = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.subscribe(room, 0, seenB.handler);

    const writes: Promise<number[]>[] = [];
    for (let i = 0; i < 40; i++) {
      writes.push(a.append(room, [bytes(`a${i}`)]));
      writes.push(b.append(room, [bytes(`b${i}`), bytes(`b${i}+`)]));
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const seqs = (await Promise.all(writes)).flat();

    expect([...seqs].sort((x, y) => x - y)).toEqual(range(1, 120));
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(120));
    await vi.waitFor(() => expect(seenB.entries).toHaveLength(120));
    expect(seenA.entries.map((entry) => entry.seq)).toEqual(range(1, 120));
    expect(seenA.texts()).toEqual(seenB.texts());
    // A node's own appends keep their order within the total order.
    const fromA = seenA.texts().filter((text) => text.startsWith('a'));
    expect(fromA).toEqual(range(0, 39).map((i) => `a${i}`));
  });

  it('sends the appends of one event-loop turn for a room as one script call and one publish', async () => {
    const room = await newRoom();
    const bus = await openBus('node-batch');
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    await bus.append(room, [bytes('warm-up')]);

    await admin.config('RESETSTAT');
    const appends = range(1, 25).map((i) => bus.append(room, [bytes(`x${i}`)]));
    const seqs = await Promise.all(appends);
    const stats = await commandStats(admin);

    expect(seqs.flat()).toEqual(range(2, 26));
    expect(stats.evalsha + stats.eval).toBe(1);
    expect(stats.publish).toBe(1);
    expect(stats.xadd).toBe(25);
    await vi.waitFor(() => expect(seen.entries).toHaveLength(26));
  });

  it('costs one script call per update when updates come one turn at a time', async () => {
    const room = await newRoom();
    const [a, b, c] = await Promise.all([openBus('n1'), openBus('n2'), openBus('n3')]);
    const recorders = [recorder(), recorder(), recorder()];
    await a.subscribe(room, 0, recorders[0]!.handler);
    await b.subscribe(room, 0, recorders[1]!.handler);
    await c.subscribe(room, 0, recorders[2]!.handler);
    await a.append(room, [bytes('warm-up')]);

    await admin.config('RESETSTAT');
    for (let i = 0; i < 20; i++) await a.append(room, [bytes(`u${i}`)]);
    const stats = await commandStats(admin);

    // Whatever the number of nodes subscribed: one script call and one publish per update.
    expect(stats.evalsha + stats.eval).toBe(20);
    expect(stats.publish).toBe(20);
    for (const seen of recorders) await vi.waitFor(() => expect(seen.entries).toHaveLength(21));
  });

  it('delivers ephemeral messages to the other nodes and never back to their sender', async () => {
    const room = await newRoom();
    const [a, b] = await Promise.all([openBus('eph-a'), openBus('eph-b')]);
    const seenA = recorder();
    const seenB = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.subscribe(room, 0, seenB.handler);

    a.publish(room, { type: 'presence', user: 'u1' });
    await a.append(room, [bytes('after')]);

    await vi.waitFor(() => expect(seenB.ephemeral).toHaveLength(1));
    expect(seenB.ephemeral[0]).toEqual({
      from: 'eph-a',
      message: { type: 'presence', user: 'u1' },
    });
    // The entry appended after the message reached A, so the message had its chance too.
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(1));
    expect(seenA.ephemeral).toEqual([]);
  });

  it('reads the missing range from the log when a published batch never arrived', async () => {
    const room = await newRoom();
    const bus = await openBus('gap');
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    await bus.append(room, [bytes('one')]);

    // Entries 2 and 3 reach the log, but their publish goes to a channel nobody listens on.
    const keys = roomKeys(room);
    admin.defineCommand('rawAppend', { numberOfKeys: 4, lua: scriptSource('weftAppend') });
    await (admin as unknown as RawAppend).rawAppend(
      keys.seq,
      keys.log,
      keys.writers,
      keys.move,
      'elsewhere',
      'PUBLISH',
      0,
      'tester',
      't1',
      'two',
      'three',
    );
    await bus.append(room, [bytes('four')]);

    await vi.waitFor(() => expect(seen.entries).toHaveLength(4));
    expect(seen.entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
    expect(seen.texts()).toEqual(['one', 'two', 'three', 'four']);
  });

  it('finds a lost last entry through the tail check when no later entry shows the gap', async () => {
    const room = await newRoom();
    const bus = await openBus('tail', { tailCheckIntervalMs: 100 });
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    await bus.append(room, [bytes('one')]);

    const keys = roomKeys(room);
    admin.defineCommand('rawAppend', { numberOfKeys: 4, lua: scriptSource('weftAppend') });
    await (admin as unknown as RawAppend).rawAppend(
      keys.seq,
      keys.log,
      keys.writers,
      keys.move,
      'elsewhere',
      'PUBLISH',
      0,
      'tester',
      't2',
      'two',
    );

    await vi.waitFor(() => expect(seen.texts()).toEqual(['one', 'two']));
  });

  it('starts a subscription after the given seq and catches up from the log', async () => {
    const room = await newRoom();
    const bus = await openBus('late');
    await bus.append(room, [bytes('1'), bytes('2'), bytes('3')]);
    const seen = recorder();

    await bus.subscribe(room, 1, seen.handler);
    await bus.append(room, [bytes('4')]);

    await vi.waitFor(() => expect(seen.entries.map((entry) => entry.seq)).toEqual([2, 3, 4]));
  });

  it('loads a room from the store snapshot and the entries after it, then trims the stream', async () => {
    const room = await newRoom();
    const bus = await openBus('snap', { trimRetainEntries: 2 });
    await bus.append(
      room,
      range(1, 10).map((i) => bytes(`e${i}`)),
    );

    expect(await bus.snapshot(room, 6, bytes('state@6'))).toBe(true);
    const history = await bus.history(room);

    expect(Buffer.from(history.snapshot!.data).toString()).toBe('state@6');
    expect(history.snapshot!.seq).toBe(6);
    expect(history.entries.map((entry) => entry.seq)).toEqual([7, 8, 9, 10]);
    expect(Buffer.from(history.entries[0]!.data).toString()).toBe('e7');
    // Two entries stay behind the snapshot for nodes that fell behind.
    expect(await admin.xlen(roomKeys(room).log)).toBe(6);
    expect((await store.roomLog.getSnapshot(room.roomId))?.seq).toBe(6);
  });

  it('refuses a snapshot while another node holds the lease', async () => {
    const room = await newRoom();
    const bus = await openBus('lease');
    await bus.append(room, [bytes('x')]);
    await admin.set(roomKeys(room).lease, 'other-node', 'PX', 10_000);

    expect(await bus.snapshot(room, 1, bytes('s'))).toBe(false);
    expect(await store.roomLog.getSnapshot(room.roomId)).toBeUndefined();

    await admin.del(roomKeys(room).lease);
    expect(await bus.snapshot(room, 1, bytes('s'))).toBe(true);
    expect(await admin.exists(roomKeys(room).lease)).toBe(0);
  });

  it('continues seqs above the store snapshot when Redis lost the room', async () => {
    const room = await newRoom();
    const bus = await openBus('lost');
    await bus.append(
      room,
      range(1, 5).map((i) => bytes(`e${i}`)),
    );
    await bus.snapshot(room, 5, bytes('state@5'));
    await admin.flushall();

    const history = await bus.history(room);
    const [seq] = await bus.append(room, [bytes('after loss')]);

    expect(history.snapshot?.seq).toBe(5);
    expect(history.entries).toEqual([]);
    expect(seq).toBe(6);
  });

  it('keeps seqs going forward for a live subscriber when Redis lost the room', async () => {
    const room = await newRoom();
    const [a, b] = await Promise.all([
      openBus('fw-a', { tailCheckIntervalMs: 100 }),
      openBus('fw-b'),
    ]);
    const seen = recorder();
    await a.subscribe(room, 0, seen.handler);
    await b.append(
      room,
      range(1, 4).map((i) => bytes(`e${i}`)),
    );
    await vi.waitFor(() => expect(seen.entries).toHaveLength(4));

    await admin.flushall();
    // The subscriber notices the counter went below what it delivered and raises it back.
    await vi.waitFor(async () => expect(await admin.get(roomKeys(room).seq)).toBe('4'));
    const [seq] = await b.append(room, [bytes('after loss')]);

    expect(seq).toBe(5);
    await vi.waitFor(() => expect(seen.entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4, 5]));
  });

  it('hands out actor ids once per room across nodes, starting above the store counter', async () => {
    const room = await newRoom();
    await store.rooms.raiseActorCounter(room.roomId, 7);
    const [a, b] = await Promise.all([openBus('act-a'), openBus('act-b')]);

    const ids = await Promise.all(range(1, 10).map((i) => (i % 2 ? a : b).nextActor(room)));

    expect([...ids].sort((x, y) => x - y)).toEqual(range(8, 17));
    // The store knows every id before it is used: a Redis without the counter cannot reuse one.
    expect(await store.rooms.actorCounter(room.roomId)).toBe(17);
  });

  it('never reuses an actor id after Redis lost the counter', async () => {
    const room = await newRoom();
    const bus = await openBus('act-lost');
    const before = await Promise.all([bus.nextActor(room), bus.nextActor(room)]);
    await admin.flushall();

    const after = await bus.nextActor(room);

    expect(after).toBeGreaterThan(Math.max(...before));
  });

  it('forgets a room: its log, counters and snapshot', async () => {
    const room = await newRoom();
    const bus = await openBus('forget');
    await bus.append(room, [bytes('a'), bytes('b')]);
    await bus.snapshot(room, 1, bytes('s'));

    await bus.forget(room);

    expect(await admin.exists(roomKeys(room).log, roomKeys(room).seq)).toBe(0);
    expect(await bus.history(room)).toEqual({ snapshot: null, entries: [] });
    expect(await bus.append(room, [bytes('fresh')])).toEqual([1]);
  });

  it("refuses appends under a renamed room's old id with ROOM_ID_UPDATED once its log moved", async () => {
    const room = await newRoom();
    const [mover, straggler] = await Promise.all([openBus('move-a'), openBus('move-b')]);
    await straggler.append(room, [bytes('before')]);
    const renamed = { ...room, roomId: `${room.roomId}-renamed` };
    await store.rooms.rename(room.roomId, renamed.roomId);

    await mover.moveRoom(room, renamed);

    await expect(straggler.append(room, [bytes('late')])).rejects.toMatchObject({
      code: 'ROOM_ID_UPDATED',
    });
    expect((await mover.history(renamed)).entries.map((entry) => entry.seq)).toEqual([1]);
    expect(await admin.exists(roomKeys(room).log, roomKeys(room).seq)).toBe(0);
  });

  it("serves a room created again under a renamed room's old id from seq 1", async () => {
    const room = await newRoom();
    const bus = await openBus('recreate');
    await bus.append(room, [bytes('old life')]);
    await store.rooms.rename(room.roomId, `${room.roomId}-renamed`);
    await bus.moveRoom(room, { ...room, roomId: `${room.roomId}-renamed` });

    await createRoom(room);

    expect(await bus.history(room)).toEqual({ snapshot: null, entries: [] });
    expect(await bus.append(room, [bytes('new life')])).toEqual([1]);
  });

  it('holds loads and appends of a room while a log moves in, then serves them', async () => {
    const room = await newRoom();
    const bus = await openBus('moving-in');
    await admin.set(roomKeys(room).move, 'in');
    const getsBefore = await commandCalls(admin, 'get');
    let loaded = false;
    const loading = bus.history(room).then((history) => {
      loaded = true;
      return history;
    });
    const appending = bus.append(room, [bytes('waits')]);

    // The load looks at the marker again and again, and nothing got through meanwhile.
    await vi.waitFor(async () =>
      expect(await commandCalls(admin, 'get')).toBeGreaterThan(getsBefore + 3),
    );
    expect(loaded).toBe(false);
    expect(await admin.exists(roomKeys(room).log)).toBe(0);
    await admin.del(roomKeys(room).move);

    expect((await loading).entries).toEqual([]);
    expect(await appending).toEqual([1]);
  });

  it('tells the other nodes about room changes and never tells their sender', async () => {
    const [a, b] = await Promise.all([openBus('change-a'), openBus('change-b')]);
    const seenA: unknown[] = [];
    const seenB: unknown[] = [];
    a.onRoomChange((change, from) => seenA.push([change, from]));
    b.onRoomChange((change, from) => seenB.push([change, from]));

    a.publishRoomChange({ type: 'renamed', roomId: 'x', newRoomId: 'y' });
    await vi.waitFor(() =>
      expect(seenB).toEqual([[{ type: 'renamed', roomId: 'x', newRoomId: 'y' }, 'change-a']]),
    );
    b.publishRoomChange({ type: 'deleted', roomId: 'z' });
    await vi.waitFor(() => expect(seenA).toEqual([[{ type: 'deleted', roomId: 'z' }, 'change-b']]));
    expect(seenB).toHaveLength(1);
  });

  it('reports a node that stopped heartbeating to every room handler within a few seconds', async () => {
    const room = await newRoom();
    const bus = await openBus('watcher', { heartbeatIntervalMs: 100, nodeTimeoutMs: 500 });
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    // A node that beat once, now, and then died.
    const [seconds] = await admin.time();
    await admin.zadd(NODES_KEY, Number(seconds) * 1000 + 999, 'ghost');

    const startedAt = Date.now();
    await vi.waitFor(() => expect(seen.down.flat()).toContain('ghost'), { timeout: 5_000 });
    expect(Date.now() - startedAt).toBeLessThan(3_000);
  });

  it('reports a node that closed at the next check, without waiting for the timeout', async () => {
    const room = await newRoom();
    const watcher = await openBus('watcher-2', { heartbeatIntervalMs: 100, nodeTimeoutMs: 60_000 });
    const leaving = await openBus('leaving', { heartbeatIntervalMs: 100, nodeTimeoutMs: 60_000 });
    const seen = recorder();
    await watcher.subscribe(room, 0, seen.handler);
    await vi.waitFor(async () => expect(await admin.zscore(NODES_KEY, 'leaving')).not.toBeNull());

    await leaving.close();

    await vi.waitFor(() => expect(seen.down.flat()).toContain('leaving'), { timeout: 2_000 });
  });

  it('answers ready while Redis answers', async () => {
    const bus = await openBus('ready');

    expect(await bus.ready()).toBe(true);
    await bus.close();
    expect(await bus.ready()).toBe(false);
  });

  it('rejects appends with SHUTTING_DOWN after close', async () => {
    const bus = await openBus('closed');
    await bus.close();

    await expect(bus.append(await newRoom(), [bytes('x')])).rejects.toMatchObject({
      code: 'SHUTTING_DOWN',
    });
    expect(WeftError).toBeDefined();
  });
});

// ---------------------------------------------------------------------------------------------

interface RawAppend {
  rawAppend(...args: (string | number)[]): Promise<number>;
}

async function openBus(nodeId: string, options: Partial<RedisBusOptions> = {}): Promise<RedisBus> {
  const bus = await RedisBus.open({
    redisUrl: redis.url,
    store,
    nodeId,
    logger: quietLogger(),
    ...options,
  });
  buses.push(bus);
  return bus;
}

async function newRoom(): Promise<RoomKey> {
  const room = { organizationId: 'org/test', roomId: `room-${process.pid}-${++roomCounter}` };
  await createRoom(room);
  return room;
}

async function createRoom(room: RoomKey): Promise<void> {
  await createBusRoom(store, room);
}

const recorder = busRecorder;

interface CommandStats {
  eval: number;
  evalsha: number;
  publish: number;
  xadd: number;
}

async function commandStats(client: Redis): Promise<CommandStats> {
  const info = await client.info('commandstats');
  const calls = (name: string) =>
    Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return {
    eval: calls('eval'),
    evalsha: calls('evalsha'),
    publish: calls('publish'),
    xadd: calls('xadd'),
  };
}

async function commandCalls(client: Redis, command: string): Promise<number> {
  const info = await client.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}
