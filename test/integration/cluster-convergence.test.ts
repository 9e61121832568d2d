import type { LiveList, LiveMap, LiveObject } from '@liveblocks/client';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import {
  enterRoom,
  fetchRoomDoc,
  mintIdToken,
  restClient,
  type ClientSession,
  type NodeAddress,
} from '../support/clients.js';
import {
  AckLedger,
  allSent,
  expectConverged,
  expectServedByNode,
  expectStorageConverged,
  initializeWritesStorage,
  keysIn,
  liveblocksWriter,
  startLoad,
  storageWriter,
  yWebsocketWriter,
  type Target,
} from '../support/cluster-workload.js';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.js';
import {
  enterStorageRoom,
  serverJson,
  sorted,
  waitForConvergence,
} from '../support/storage-clients.js';
import {
  metricValue,
  redisAdmin,
  redisClientId,
  scrapeMetrics,
  startWeftCluster,
  type WeftCluster,
} from '../support/weft-cluster.js';

/**
 * Three Weft nodes in child processes over one Redis (AOF, fsync always) and one Postgres
 * database: real clients of one room spread over the nodes see each other and converge as on
 * one node, and a node whose subscriber connection is killed repairs what it missed from the
 * room log.
 */

const ORG = 'acme';
let redis: TestRedisServer;
let cluster: WeftCluster;
let roomCount = 0;

beforeAll(async () => {
  redis = await startRedisServer({ appendOnly: true });
  cluster = await startWeftCluster({ redisUrl: redis.url, idPrefix: 'conv' });
});

describe('three nodes over one Redis', () => {
  it('shows every user and its presence updates on the other nodes', async () => {
    const target = await newRoom();
    const sessions = await Promise.all(
      cluster.nodes.map((node, i) => enter(node.direct, target, `user-${i}`, { cursor: { x: i } })),
    );

    for (const [i, session] of sessions.entries()) {
      await vi.waitFor(() =>
        expect(othersOf(session)).toEqual(
          [0, 1, 2].filter((j) => j !== i).map((j) => [`user-${j}`, { cursor: { x: j } }]),
        ),
      );
    }
    sessions[0]!.room.updatePresence({ cursor: { x: 10 } });
    for (const session of sessions.slice(1)) {
      await vi.waitFor(() =>
        expect(othersOf(session)[0]).toEqual(['user-0', { cursor: { x: 10 } }]),
      );
    }
  });

  it('delivers each broadcast event once to the users of every other node', async () => {
    const target = await newRoom();
    const sessions = await Promise.all(
      cluster.nodes.map((node, i) => enter(node.direct, target, `user-${i}`)),
    );
    await vi.waitFor(() => {
      for (const session of sessions) expect(session.room.getOthers()).toHaveLength(2);
    });
    const received = sessions.map(() => [] as unknown[]);
    sessions.forEach((session, i) =>
      session.room.subscribe('event', ({ event }) => received[i]!.push(event)),
    );

    sessions.forEach((session, i) => session.room.broadcastEvent({ from: i } as never));

    await vi.waitFor(() => {
      for (const [i, events] of received.entries()) {
        expect(sortByFrom(events)).toEqual(
          [0, 1, 2].filter((j) => j !== i).map((j) => ({ from: j })),
        );
      }
    });
  });

  it('converges @liveblocks/yjs and y-websocket clients written to concurrently on three nodes', async () => {
    const target = await newRoom();
    const ledger = new AckLedger();
    const [a, b, c] = cluster.nodes;
    const lb0 = await liveblocksWriter(a!.direct, target, 'lb0', ledger);
    const writers = [
      lb0,
      await liveblocksWriter(b!.direct, target, 'lb1', ledger),
      await yWebsocketWriter(c!.direct, target, 'yws2', ledger),
    ];

    for (let i = 0; i < 30; i++) for (const writer of writers) writer.write();

    await expectConverged(writers, allSent(writers), ledger);
    expect(ledger.size).toBe(90);
    for (const node of cluster.nodes) {
      await expectServedByNode(node.direct, target.roomId, allSent(writers), ledger);
    }
    // y-websocket users appear to Liveblocks clients of other nodes as users of the room.
    expect(lb0.session.room.getOthers().map((other) => other.id)).toContain('yws2');
  });

  it('converges Storage (LiveObject, LiveMap, LiveList) edited concurrently on three nodes', async () => {
    const target = await newRoom();
    await restClient(cluster.nodes[0]!.direct).initializeStorageDocument(target.roomId, {
      liveblocksType: 'LiveObject',
      data: {
        object: { liveblocksType: 'LiveObject', data: { title: 'start' } },
        map: { liveblocksType: 'LiveMap', data: {} },
        list: { liveblocksType: 'LiveList', data: [] },
      },
    });
    const clients = await Promise.all(
      cluster.nodes.map((node, i) =>
        enterStorageRoom(node.direct, target.roomId, `storage-${i}`, {
          token: () => mintIdToken(node.direct, `storage-${i}`, { organizationId: ORG }),
        }),
      ),
    );

    for (const [i, client] of clients.entries()) {
      const root = client.root();
      for (let n = 0; n < 10; n++) {
        (root.get('list') as LiveList<string>).push(`${i}.${n}`);
        (root.get('map') as LiveMap<string, number>).set(`k${i}.${n}`, n);
      }
      // The same field from every node: one value wins, the same everywhere.
      (root.get('object') as LiveObject<{ title: string }>).set('title', `from ${i}`);
    }

    const served = (await waitForConvergence(cluster.nodes[0]!.direct, target.roomId, clients)) as {
      list: string[];
      map: Record<string, number>;
    };
    expect(served.list).toHaveLength(30);
    expect(Object.keys(served.map)).toHaveLength(30);
    for (const node of cluster.nodes.slice(1)) {
      expect(sorted(await serverJson(node.direct, target.roomId))).toEqual(sorted(served));
    }
  });

  it('repairs from the room log what a node missed while its subscriber connection was killed', async ({
    annotate,
  }) => {
    const target = await newRoom();
    await initializeWritesStorage(cluster.nodes[0]!.direct, target.roomId);
    const ledger = new AckLedger();
    const storageLedger = new AckLedger();
    const [a, b, c] = cluster.nodes;
    const burster = await yWebsocketWriter(a!.direct, target, 'burst0', ledger);
    const writers = [
      burster,
      await liveblocksWriter(b!.direct, target, 'lb1', ledger),
      await liveblocksWriter(c!.direct, target, 'lb2', ledger),
      await yWebsocketWriter(c!.direct, target, 'yws2', ledger),
    ];
    const storageWriters = [
      await storageWriter(b!.direct, target, 'st1', storageLedger),
      await storageWriter(c!.direct, target, 'st2', storageLedger),
    ];
    const load = startLoad([...writers.slice(1), ...storageWriters], 40);
    await vi.waitFor(() => expect(ledger.size).toBeGreaterThan(30));
    const repairsBefore = await gapRepairsOf(c!.direct);
    const admin = redisAdmin(redis.url);
    const subscriberId = await redisClientId(admin, `weft:${c!.nodeId}:sub`);

    const killedAt = performance.now();
    expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub', 'ID', subscriberId)).toBe(1);
    // Published while that node's subscriber reconnects: pub/sub drops them for it.
    for (let i = 0; i < 5; i++) burster.write();

    await vi.waitFor(async () =>
      expect(await gapRepairsOf(c!.direct)).toBeGreaterThan(repairsBefore),
    );
    const repairedAfterMs = performance.now() - killedAt;
    // Writes keep flowing through that node afterwards.
    const lb2Acked = ledger.of('lb2').length;
    await vi.waitFor(() => expect(ledger.of('lb2').length).toBeGreaterThan(lb2Acked + 10), {
      timeout: 5_000,
    });
    load.stop();

    await expectConverged(writers, allSent(writers), ledger);
    await expectStorageConverged(storageWriters, allSent(storageWriters), storageLedger);
    await expectServedByNode(c!.direct, target.roomId, allSent(writers), ledger);
    const repaired = c!.child.logs.find(
      (record) => record.msg === 'room log gap repaired' && record.room === target.roomId,
    );
    expect(repaired).toMatchObject({ node: c!.nodeId, org: ORG, room: target.roomId });
    expect(repaired!.entries).toBeGreaterThan(0);
    await annotate(
      `CLIENT KILL TYPE pubsub → gap repaired after ${Math.round(repairedAfterMs)} ms`,
    );
  });

  it("drops the users of a node stopped with SIGTERM from the other nodes' presence at once", async ({
    annotate,
  }) => {
    const target = await newRoom();
    const leaving = await cluster.startNode('conv-leaving');
    const staying = await enter(cluster.nodes[0]!.direct, target, 'staying');
    const goner = await enter(leaving, target, 'goner');
    await vi.waitFor(() =>
      expect(staying.room.getOthers().map((other) => other.id)).toEqual(['goner']),
    );
    let leftAt: number | undefined;
    staying.room.events.others.subscribe((event) => {
      if (event.type === 'leave' && event.user.id === 'goner') leftAt ??= performance.now();
    });

    const stoppedAt = performance.now();
    await leaving.kill('SIGTERM');

    await vi.waitFor(() => expect(leftAt).toBeDefined(), { timeout: 2_500, interval: 10 });
    expect(goner.closes.map((close) => close.code)).toContain(1012);
    await annotate(
      `node SIGTERM → USER_LEFT on another node after ${Math.round(leftAt! - stoppedAt)} ms`,
    );
  });

  it('closes the sockets of a room deleted through another node on every node, and forgets its log', async () => {
    const target = await newRoom();
    const ledger = new AckLedger();
    const [a, b, c] = cluster.nodes;
    const writers = [
      await liveblocksWriter(b!.direct, target, 'lb1', ledger),
      await yWebsocketWriter(c!.direct, target, 'yws2', ledger),
    ];
    for (let i = 0; i < 10; i++) for (const writer of writers) writer.write();
    await expectConverged(writers, allSent(writers), ledger);

    // Node a never held the room: the others hear of the deletion through Redis.
    await restClient(a!.direct).deleteRoom(target.roomId);

    await vi.waitFor(() =>
      expect(writers[0]!.session.closes.map((close) => close.code)).toContain(4002),
    );
    await vi.waitFor(() =>
      expect(writers[1]!.session.closes.map((close) => close.code)).toContain(4002),
    );
    await restClient(a!.direct).createRoom(target.roomId, {
      defaultAccesses: ['room:write'],
      organizationId: ORG,
    });
    for (const node of cluster.nodes) {
      expect(keysIn(await fetchRoomDoc(node.direct, target.roomId)).size).toBe(0);
    }
  });

  it('moves a room renamed through another node to its new id with every write, closing its sockets on every node with 4006', async () => {
    const target = await newRoom();
    const ledger = new AckLedger();
    const [a, b, c] = cluster.nodes;
    const lb = await liveblocksWriter(b!.direct, target, 'lb1', ledger);
    const yws = await yWebsocketWriter(c!.direct, target, 'yws2', ledger);
    for (let i = 0; i < 20; i++) {
      lb.write();
      yws.write();
    }
    await expectConverged([lb, yws], allSent([lb, yws]), ledger);
    const newRoomId = `${target.roomId}-renamed`;

    await restClient(a!.direct).updateRoomId({ currentRoomId: target.roomId, newRoomId });

    await vi.waitFor(() => expect(lb.session.closes.map((close) => close.code)).toContain(4006));
    await vi.waitFor(() => expect(yws.session.closes.map((close) => close.code)).toContain(4006));
    // Entries written since the last snapshot lived in Redis under the old id: they moved.
    for (const node of cluster.nodes) {
      await expectServedByNode(node.direct, newRoomId, allSent([lb, yws]), ledger);
    }
    const moved = await liveblocksWriter(
      c!.direct,
      { ...target, roomId: newRoomId },
      'lb2',
      ledger,
    );
    moved.write();
    await vi.waitFor(() => expect(ledger.of('lb2')).toEqual(['w:lb2:0']));
  });

  it('re-checks the permissions of connections on every node when accesses change through another node', async () => {
    const target = await newRoom();
    const [a, b] = cluster.nodes;
    await restClient(a!.direct).updateRoom(target.roomId, {
      defaultAccesses: [],
      usersAccesses: { revoked: ['room:write'], kept: ['room:write'] },
    });
    const revoked = await enter(b!.direct, target, 'revoked');
    const kept = await enter(b!.direct, target, 'kept');

    await restClient(a!.direct).updateRoom(target.roomId, { usersAccesses: { revoked: null } });

    await vi.waitFor(() => expect(revoked.closes.map((close) => close.code)).toContain(4001));
    expect(kept.closes).toEqual([]);
  });

  it('reports Redis in /readyz and the bus figures and per-organization counts in /metrics', async () => {
    const target = await newRoom();
    const node = cluster.nodes[1]!;
    await enter(node.direct, target, 'metrics-user');

    const ready = await fetch(`${node.direct.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      database: true,
      redis: true,
      draining: false,
    });
    const metrics = await scrapeMetrics(node.direct);
    const labels = { node: node.nodeId };
    expect(metricValue(metrics, 'weft_redis_round_trip_seconds', labels)).toBeGreaterThan(0);
    expect(metricValue(metrics, 'weft_redis_connected', labels)).toBe(1);
    expect(metricValue(metrics, 'weft_log_lag_entries', labels)).toBe(0);
    expect(metricValue(metrics, 'weft_log_gap_repairs_total', labels)).toBeDefined();
    expect(
      metricValue(metrics, 'weft_connections', { ...labels, org: ORG, protocol: 'liveblocks' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(metrics, 'weft_rooms_loaded', { ...labels, org: ORG }),
    ).toBeGreaterThanOrEqual(1);
  });
});

async function newRoom(): Promise<Target> {
  const roomId = `cluster-conv-${++roomCount}`;
  await restClient(cluster.nodes[0]!.direct).createRoom(roomId, {
    defaultAccesses: ['room:write'],
    organizationId: ORG,
  });
  return { roomId, organizationId: ORG };
}

function enter(
  node: NodeAddress,
  target: Target,
  userId: string,
  presence: Record<string, unknown> = {},
): Promise<ClientSession> {
  return enterRoom(node, target.roomId, {
    token: () => mintIdToken(node, userId, { organizationId: target.organizationId }),
    initialPresence: presence,
  });
}

function othersOf(session: ClientSession): [string | undefined, unknown][] {
  return session.room
    .getOthers()
    .map((other): [string | undefined, unknown] => [other.id, other.presence])
    .sort(([x], [y]) => String(x).localeCompare(String(y)));
}

function sortByFrom(events: unknown[]): unknown[] {
  return [...events].sort((x, y) => (x as { from: number }).from - (y as { from: number }).from);
}

async function gapRepairsOf(node: NodeAddress): Promise<number> {
  return metricValue(await scrapeMetrics(node), 'weft_log_gap_repairs_total') ?? 0;
}
