import { describe, expect, it, vi } from 'vitest';

import { roomKeys } from '../../src/cluster/redis-keys.js';
import { enterRoom, mintIdToken, restClient } from '../support/clients.js';
import {
  AckLedger,
  allSent,
  expectConverged,
  expectServedByNode,
  expectStorageConverged,
  expectStorageServedByNode,
  initializeWritesStorage,
  liveblocksWriter,
  storageWriter,
  yWebsocketWriter,
  type Target,
} from '../support/cluster-workload.js';
import { startRedisCluster } from '../support/redis-cluster.js';
import { startWeftCluster } from '../support/weft-cluster.js';

/**
 * Three Weft nodes over a 3-master Redis Cluster (`REDIS_URL=redis-cluster://…`): rooms whose
 * keys sit on different shards each get clients on all three nodes, which see each other's
 * presence and broadcasts and converge on Yjs and Storage, as over one Redis server.
 */

const ORG = 'acme';

describe('three nodes over a 3-master Redis Cluster', () => {
  it('spreads rooms over the shards and converges presence, broadcast, Yjs and Storage in each across nodes', async () => {
    const redis = await startRedisCluster(3);
    const cluster = await startWeftCluster({ redisUrl: redis.url, idPrefix: 'shard' });
    const rooms = await roomsOnEveryShard(redis, 3);

    for (const [r, target] of rooms.entries()) {
      await restClient(cluster.nodes[0]!.direct).createRoom(target.roomId, {
        defaultAccesses: ['room:write'],
        organizationId: ORG,
      });
      // Each room's clients start on a different node, so every node serves every protocol.
      const [first, second, third] = [0, 1, 2].map((i) => cluster.nodes[(r + i) % 3]!.direct);
      await initializeWritesStorage(first!, target.roomId);
      const ledger = new AckLedger();
      const storageLedger = new AckLedger();
      const lb = await liveblocksWriter(first!, target, `lb${r}`, ledger);
      const yws = await yWebsocketWriter(second!, target, `yws${r}`, ledger);
      const storage = [
        await storageWriter(second!, target, `st${r}a`, storageLedger),
        await storageWriter(third!, target, `st${r}b`, storageLedger),
      ];
      const watcher = await enterRoom(third!, target.roomId, {
        token: () => mintIdToken(third!, `watch${r}`, { organizationId: ORG }),
        initialPresence: { pointer: r },
      });

      await vi.waitFor(() =>
        expect(lb.session.room.getOthers().map((other) => [other.id, other.presence])).toEqual(
          expect.arrayContaining([[`watch${r}`, { pointer: r }]]),
        ),
      );
      const events: unknown[] = [];
      watcher.room.subscribe('event', ({ event }) => events.push(event));
      lb.session.room.broadcastEvent({ room: r } as never);
      await vi.waitFor(() => expect(events).toEqual([{ room: r }]));

      for (let i = 0; i < 20; i++) {
        for (const writer of [lb, yws, ...storage]) writer.write();
      }
      await expectConverged([lb, yws], allSent([lb, yws]), ledger);
      await expectStorageConverged(storage, allSent(storage), storageLedger);
      await expectStorageServedByNode(first!, target.roomId, allSent(storage), storageLedger);
      await expectServedByNode(third!, target.roomId, allSent([lb, yws]), ledger);
      // The room lives on its shard: its log there, its channel a sharded one there.
      const keys = roomKeys(target);
      const shard = (await redis.nodeOf(keys.log)).client();
      expect(await shard.xlen(keys.log)).toBeGreaterThan(0);
      expect(await shard.call('PUBSUB', 'SHARDCHANNELS', keys.channel)).toEqual([keys.channel]);
    }
  });
});

/** One room id per shard: rooms whose hash tag maps to each master in turn. */
async function roomsOnEveryShard(
  redis: Awaited<ReturnType<typeof startRedisCluster>>,
  count: number,
): Promise<Target[]> {
  const byShard = new Map<number, Target>();
  for (let i = 0; byShard.size < count; i++) {
    const target = { roomId: `cluster-shard-room-${i}`, organizationId: ORG };
    const shard = await redis.nodeOf(roomKeys(target).log);
    if (!byShard.has(shard.port)) byShard.set(shard.port, target);
  }
  return [...byShard.values()];
}
