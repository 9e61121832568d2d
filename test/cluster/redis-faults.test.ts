import type { Cluster, Redis } from 'ioredis';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import type { RoomKey } from '../../src/cluster/bus.js';
import { RedisBus, type RedisBusOptions } from '../../src/cluster/redis-bus.js';
import { NODES_KEY, roomKeys } from '../../src/cluster/redis-keys.js';
import { scriptSource } from '../../src/cluster/redis-scripts.js';
import type { Store } from '../../src/store/store.js';
import { busRecorder, bytes, createBusRoom, quietLogger, range } from '../support/bus-recorder.js';
import { startRedisCluster, type TestRedisCluster } from '../support/redis-cluster.js';
import { startRedisServer } from '../support/redis-server.js';
import { storeFactories } from '../support/store-factories.js';
import { runBusContract } from './bus-contract.js';

let store: Store;
const buses: RedisBus[] = [];
let roomCounter = 0;

beforeAll(async () => {
  store = await storeFactories[0]!.open();
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

describe('RedisBus when Redis fails', () => {
  it('repairs from the log what a node missed while its subscriber connection was killed', async () => {
    const redis = await startRedisServer();
    const admin = redis.client();
    const room = await newRoom();
    const [a, b] = await Promise.all([openBus(redis.url, 'kill-a'), openBus(redis.url, 'kill-b')]);
    const seenA = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.append(room, [bytes('before')]);
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(1));

    await admin.client('KILL', 'ID', await clientId(admin, 'weft:kill-a:sub'));
    // Published while A's subscriber is away: pub/sub drops them for A.
    await b.append(room, [bytes('during-1'), bytes('during-2')]);

    // Within the tail check's period (two checks of 2 s): the reconnect alone must repair.
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(3), { timeout: 1_500 });
    await b.append(room, [bytes('after')]);
    await vi.waitFor(() =>
      expect(seenA.texts()).toEqual(['before', 'during-1', 'during-2', 'after']),
    );
    expect(seenA.entries.map((entry) => entry.seq)).toEqual([1, 2, 3, 4]);
    // The figures /metrics reports: one repair that brought back the two missed entries.
    expect(a.gapRepairs).toBe(1);
    expect(a.repairedEntryCount).toBe(2);
    expect(b.gapRepairs).toBe(0);
  });

  it('loses no acknowledged append across a Redis kill and restart with AOF, and nodes converge', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    const admin = redis.client();
    const room = await newRoom();
    const [a, b] = await Promise.all([openBus(redis.url, 'aof-a'), openBus(redis.url, 'aof-b')]);
    const seenA = recorder();
    const seenB = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.subscribe(room, 0, seenB.handler);

    const acknowledged = new Map<number, string>();
    let stop = false;
    const writer = async (bus: RedisBus, name: string) => {
      for (let i = 0; !stop; i++) {
        const text = `${name}${i}`;
        const [seq] = await bus.append(room, [bytes(text)]);
        acknowledged.set(seq!, text);
      }
    };
    const writers = [writer(a, 'a'), writer(b, 'b')];
    await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThan(50));

    await redis.kill();
    const atKill = acknowledged.size;
    await redis.restart();
    // Appends held during the outage go through once Redis is back.
    await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThan(atKill + 50), {
      timeout: 10_000,
    });
    stop = true;
    await Promise.all(writers);

    const log = await admin.xrangeBuffer(roomKeys(room).log, '-', '+');
    const logged = new Map(
      log.map(([id, fields]) => [Number(id.toString().split('-')[0]), fields[1]!.toString()]),
    );
    for (const [seq, text] of acknowledged) expect(logged.get(seq)).toBe(text);
    expect([...logged.keys()]).toEqual(range(1, logged.size));
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(logged.size), { timeout: 5_000 });
    await vi.waitFor(() => expect(seenB.entries).toHaveLength(logged.size), { timeout: 5_000 });
    expect(seenA.texts()).toEqual([...logged.values()]);
    expect(seenB.texts()).toEqual([...logged.values()]);
  });

  it('rejects an append with WRITE_STALLED once Redis stayed away past the bound, and never writes it later', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    const admin = redis.client();
    const room = await newRoom();
    const bus = await openBus(redis.url, 'stall', { appendTimeoutMs: 400 });
    await bus.append(room, [bytes('kept')]);

    await redis.kill();
    const startedAt = Date.now();
    const outcome = await bus.append(room, [bytes('stalled')]).catch((error: unknown) => error);
    const waitedMs = Date.now() - startedAt;
    expect(await bus.ready()).toBe(false);
    await redis.restart();
    await vi.waitFor(async () => expect(await bus.ready()).toBe(true), { timeout: 5_000 });
    const [next] = await bus.append(room, [bytes('next')]);

    expect(outcome).toMatchObject({ code: 'WRITE_STALLED' });
    expect(waitedMs).toBeGreaterThanOrEqual(350);
    expect(waitedMs).toBeLessThan(2_000);
    expect(next).toBe(2);
    const log = await admin.xrange(roomKeys(room).log, '-', '+');
    expect(log.map(([, fields]) => fields[1])).toEqual(['kept', 'next']);
  });

  it('holds an append while Redis restarts and acknowledges it once it is in the log', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    const room = await newRoom();
    const bus = await openBus(redis.url, 'hold', { appendTimeoutMs: 10_000 });
    await bus.append(room, [bytes('first')]);

    await redis.kill();
    let settled = false;
    const held = bus.append(room, [bytes('held')]).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(settled).toBe(false);
    await redis.restart();

    expect(await held).toEqual([2]);
    expect(await redis.client().xlen(roomKeys(room).log)).toBe(2);
  });
});

describe('RedisBus heartbeats across a Redis outage', () => {
  it('does not report live peers down after an outage longer than the node timeout', async () => {
    const redis = await startRedisServer({ appendOnly: true });
    const admin = redis.client();
    const room = await newRoom();
    const timing = { heartbeatIntervalMs: 100, nodeTimeoutMs: 400 };
    const [a] = await Promise.all([
      openBus(redis.url, 'out-a', timing),
      openBus(redis.url, 'out-b', timing),
    ]);
    const seen = recorder();
    await a.subscribe(room, 0, seen.handler);
    await vi.waitFor(async () => expect(await admin.zscore(NODES_KEY, 'out-b')).not.toBeNull());

    await redis.kill();
    // The outage itself: longer than the node timeout, so every beat in the set is stale.
    await new Promise((resolve) => setTimeout(resolve, 800));
    await redis.restart();
    // A node that really died: it beats once, now, and never again.
    const [seconds] = await admin.time();
    await admin.zadd(NODES_KEY, Number(seconds) * 1000 + 999, 'out-dead');

    // By the time the dead node is reported, a wrong report of B would have been made too.
    await vi.waitFor(() => expect(seen.down.flat()).toContain('out-dead'), { timeout: 5_000 });
    expect(seen.down.flat()).not.toContain('out-b');
  });
});

describe('RedisBus on a 3-master Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let admin: Cluster;

  beforeAll(async () => {
    cluster = await startRedisCluster(3);
    admin = cluster.client();
  }, 30_000);

  runBusContract('RedisBus on a Redis Cluster', async () => ({
    bus: await RedisBus.open({
      redisUrl: cluster.url,
      store,
      nodeId: `cluster-contract-${++roomCounter}`,
      logger: quietLogger(),
    }),
    prepareRoom: (room) => createRoom(room),
    renameRoom: async (roomId, newRoomId) => {
      await store.rooms.rename(roomId, newRoomId);
    },
    dispose: async () => {},
  }));

  it('spreads rooms over the shards and orders each room the same on two nodes, over sharded pub/sub', async () => {
    const rooms = await Promise.all(range(1, 6).map(() => newRoom()));
    const shards = new Set(
      await Promise.all(rooms.map(async (room) => (await cluster.nodeOf(roomKeys(room).log)).port)),
    );
    expect(shards.size).toBeGreaterThanOrEqual(2);
    const [a, b] = await Promise.all([openBus(cluster.url, 'c-a'), openBus(cluster.url, 'c-b')]);
    const seen = rooms.map(() => [recorder(), recorder()] as const);
    for (const [i, room] of rooms.entries()) {
      await a.subscribe(room, 0, seen[i]![0].handler);
      await b.subscribe(room, 0, seen[i]![1].handler);
    }
    for (const node of cluster.nodes) await node.client().config('RESETSTAT');

    await Promise.all(
      rooms.flatMap((room) =>
        range(0, 9).flatMap((i) => [
          a.append(room, [bytes(`a${i}`)]),
          b.append(room, [bytes(`b${i}`)]),
        ]),
      ),
    );

    for (const [recA, recB] of seen) {
      await vi.waitFor(() => expect(recA.entries).toHaveLength(20));
      await vi.waitFor(() => expect(recB.entries).toHaveLength(20));
      expect(recA.entries.map((entry) => entry.seq)).toEqual(range(1, 20));
      expect(recA.texts()).toEqual(recB.texts());
    }
    let publishes = 0;
    let spublishes = 0;
    for (const node of cluster.nodes) {
      const info = await node.client().info('commandstats');
      publishes += Number(/^cmdstat_publish:calls=(\d+)/m.exec(info)?.[1] ?? 0);
      spublishes += Number(/^cmdstat_spublish:calls=(\d+)/m.exec(info)?.[1] ?? 0);
    }
    expect(publishes).toBe(0);
    expect(spublishes).toBeGreaterThanOrEqual(rooms.length);
  });

  it('delivers ephemeral messages over sharded pub/sub to the other node only', async () => {
    const room = await newRoom();
    const [a, b] = await Promise.all([openBus(cluster.url, 'ce-a'), openBus(cluster.url, 'ce-b')]);
    const seenA = recorder();
    const seenB = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.subscribe(room, 0, seenB.handler);

    b.publish(room, { type: 'broadcast', event: 1 });

    await vi.waitFor(() =>
      expect(seenA.ephemeral).toEqual([{ from: 'ce-b', message: { type: 'broadcast', event: 1 } }]),
    );
    expect(seenB.ephemeral).toEqual([]);
  });

  it('tells the other nodes about room changes over sharded pub/sub', async () => {
    const [a, b] = await Promise.all([openBus(cluster.url, 'cr-a'), openBus(cluster.url, 'cr-b')]);
    const seenB: unknown[] = [];
    b.onRoomChange((change, from) => seenB.push([change, from]));

    a.publishRoomChange({ type: 'updated', roomId: 'r' });

    await vi.waitFor(() => expect(seenB).toEqual([[{ type: 'updated', roomId: 'r' }, 'cr-a']]));
  });

  it("repairs from the log what a node missed while its shard's subscriber was killed", async () => {
    const room = await newRoom();
    const shard = await cluster.nodeOf(roomKeys(room).log);
    const shardAdmin = shard.client();
    const [a, b] = await Promise.all([openBus(cluster.url, 'ck-a'), openBus(cluster.url, 'ck-b')]);
    const seenA = recorder();
    await a.subscribe(room, 0, seenA.handler);
    await b.append(room, [bytes('before')]);
    await vi.waitFor(() => expect(seenA.entries).toHaveLength(1));

    await shardAdmin.client(
      'KILL',
      'ID',
      await clientId(shardAdmin, 'ioredis-cluster(ssubscriber):weft:ck-a'),
    );
    await b.append(room, [bytes('during')]);

    // Within the tail check's period (two checks of 2 s): the resubscribe alone must repair.
    await vi.waitFor(() => expect(seenA.texts()).toEqual(['before', 'during']), { timeout: 1_500 });
    await b.append(room, [bytes('after')]);
    await vi.waitFor(() => expect(seenA.texts()).toEqual(['before', 'during', 'after']));
  });

  it('finds an entry whose sharded publish was lost through the tail check', async () => {
    const room = await newRoom();
    const bus = await openBus(cluster.url, 'c-tail', { tailCheckIntervalMs: 100 });
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    await bus.append(room, [bytes('one')]);

    const keys = roomKeys(room);
    admin.defineCommand('rawAppend', { numberOfKeys: 4, lua: scriptSource('weftAppend') });
    // Published on another channel of the same slot: nobody listens there.
    await (admin as unknown as RawAppend).rawAppend(
      keys.seq,
      keys.log,
      keys.writers,
      keys.move,
      `${keys.channel}:nowhere`,
      'SPUBLISH',
      0,
      'tester',
      't',
      'two',
    );

    await vi.waitFor(() => expect(seen.texts()).toEqual(['one', 'two']));
  });

  it('reports a node that stopped heartbeating on a cluster', async () => {
    const room = await newRoom();
    const bus = await openBus(cluster.url, 'c-watch', {
      heartbeatIntervalMs: 100,
      nodeTimeoutMs: 500,
    });
    const seen = recorder();
    await bus.subscribe(room, 0, seen.handler);
    const [seconds] = await admin.time();

    await admin.zadd(NODES_KEY, Number(seconds) * 1000 + 999, 'cluster-ghost');

    await vi.waitFor(() => expect(seen.down.flat()).toContain('cluster-ghost'), { timeout: 3_000 });
  });

  it('loses no acknowledged append when the shard of a room is killed and restarted', async () => {
    const room = await newRoom();
    const shard = await cluster.nodeOf(roomKeys(room).log);
    const [a, b] = await Promise.all([openBus(cluster.url, 'cr-a'), openBus(cluster.url, 'cr-b')]);
    const seenB = recorder();
    await b.subscribe(room, 0, seenB.handler);
    const acknowledged = new Map<number, string>();
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const [seq] = await a.append(room, [bytes(`w${i}`)]);
        acknowledged.set(seq!, `w${i}`);
      }
    })();
    await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThan(30));

    await shard.kill();
    const atKill = acknowledged.size;
    await shard.restart();
    await cluster.waitUntilHealthy();
    await vi.waitFor(() => expect(acknowledged.size).toBeGreaterThan(atKill + 30), {
      timeout: 10_000,
    });
    stop = true;
    await writer;

    const log = await admin.xrange(roomKeys(room).log, '-', '+');
    const logged = new Map(log.map(([id, fields]) => [Number(id.split('-')[0]), fields[1]!]));
    for (const [seq, text] of acknowledged) expect(logged.get(seq)).toBe(text);
    await vi.waitFor(() => expect(seenB.texts()).toEqual([...logged.values()]), {
      timeout: 10_000,
    });
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------

interface RawAppend {
  rawAppend(...args: (string | number)[]): Promise<number>;
}

async function openBus(
  redisUrl: string,
  nodeId: string,
  options: Partial<RedisBusOptions> = {},
): Promise<RedisBus> {
  const bus = await RedisBus.open({ redisUrl, store, nodeId, logger: quietLogger(), ...options });
  buses.push(bus);
  return bus;
}

async function clientId(admin: Redis, name: string): Promise<string> {
  const list = (await admin.client('LIST')) as string;
  const line = list.split('\n').find((entry) => entry.includes(` name=${name} `));
  if (!line) throw new Error(`no client named ${name}:\n${list}`);
  return /^id=(\d+)/.exec(line)![1]!;
}

async function newRoom(): Promise<RoomKey> {
  const room = { organizationId: 'org', roomId: `faults/${process.pid}/${++roomCounter}` };
  await createRoom(room);
  return room;
}

async function createRoom(room: RoomKey): Promise<void> {
  await createBusRoom(store, room);
}

const recorder = busRecorder;
