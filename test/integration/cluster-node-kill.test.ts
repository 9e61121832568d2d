import { describe, expect, it, vi } from 'vitest';

import { restClient } from '../support/clients.js';
import {
  AckLedger,
  allSent,
  expectConverged,
  expectServedByNode,
  expectStorageConverged,
  expectStorageServedByNode,
  initializeWritesStorage,
  liveblocksWriter,
  startLoad,
  storageWriter,
  yWebsocketWriter,
  type LiveblocksWriter,
  type Target,
} from '../support/cluster-workload.js';
import { startRedisServer } from '../support/redis-server.js';
import { startWeftCluster } from '../support/weft-cluster.js';

/**
 * A node of three is SIGKILLed while clients on every node write to one room. Clients reach
 * the nodes through failover proxies (one per node, preferring it, as a load balancer with
 * backup servers would): the victim's clients reconnect through the same proxy and land on a
 * live node. The other nodes must drop the victim's users within a few seconds, everyone must
 * converge on Yjs and Storage, and a node that never held the room must serve every
 * acknowledged write.
 */

const TARGET: Target = { roomId: 'cluster-kill-room', organizationId: 'acme' };
/** Time between two writes of each writer, in milliseconds. */
const WRITE_INTERVAL_MS = 40;
/** Node liveness: 1 s heartbeats, 4 s timeout (RedisBus defaults), plus a 2-core margin. */
const USER_LEFT_WITHIN_MS = 8_000;

describe('a node SIGKILLed under load', () => {
  it('drops its users on the other nodes, moves its clients to live nodes and keeps every acknowledged write', async ({
    annotate,
  }) => {
    const redis = await startRedisServer({ appendOnly: true });
    const cluster = await startWeftCluster({ redisUrl: redis.url, idPrefix: 'kill' });
    const [a, b, victim] = cluster.nodes;
    await restClient(a!.direct).createRoom(TARGET.roomId, {
      defaultAccesses: ['room:write'],
      organizationId: TARGET.organizationId,
    });
    await initializeWritesStorage(a!.direct, TARGET.roomId);
    const ledger = new AckLedger();
    const storageLedger = new AckLedger();
    const survivors: LiveblocksWriter[] = [
      await liveblocksWriter(a!.entry, TARGET, 'lb0', ledger),
      await liveblocksWriter(b!.entry, TARGET, 'lb1', ledger),
    ];
    const victimLb = await liveblocksWriter(victim!.entry, TARGET, 'lb2', ledger);
    const victimYws = await yWebsocketWriter(victim!.entry, TARGET, 'yws2', ledger);
    const writers = [...survivors, victimLb, victimYws];
    const storageWriters = [
      await storageWriter(b!.entry, TARGET, 'st1', storageLedger),
      await storageWriter(victim!.entry, TARGET, 'st2', storageLedger),
    ];
    const victimUsers = ['lb2', 'yws2', 'st2'];

    // Everyone sees everyone: the victim's two users are on the survivors' lists.
    await vi.waitFor(() => {
      for (const survivor of survivors) {
        expect(usersOf(survivor)).toEqual(
          ['lb0', 'lb1', 'lb2', 'st1', 'st2', 'yws2'].filter((id) => id !== survivor.name),
        );
      }
    });
    const victimConnections = new Set(
      survivors[0]!.session.room
        .getOthers()
        .filter((other) => victimUsers.includes(other.id!))
        .map((other) => other.connectionId),
    );
    expect(victimConnections.size).toBe(3);
    const leftAt = survivors.map(() => new Map<number, number>());
    survivors.forEach((survivor, i) =>
      survivor.session.room.events.others.subscribe((event) => {
        if (event.type === 'leave' && victimConnections.has(event.user.connectionId)) {
          leftAt[i]!.set(event.user.connectionId, performance.now());
        }
      }),
    );

    const load = startLoad([...writers, ...storageWriters], WRITE_INTERVAL_MS);
    await vi.waitFor(() => expect(ledger.of('lb2').length).toBeGreaterThan(20), {
      timeout: 5_000,
    });
    const sentBeforeKill = allSent(writers).size;
    const victimSelf = victimLb.session.room.getSelf()!.connectionId;

    let lbBackAt: number | undefined;
    let ywsBackAt: number | undefined;
    victimLb.session.room.events.status.subscribe((status) => {
      if (status === 'connected') lbBackAt ??= performance.now();
    });
    victimYws.session.provider.on('status', ({ status }: { status: string }) => {
      if (status === 'connected') ywsBackAt ??= performance.now();
    });

    const killedAt = performance.now();
    await victim!.child.kill('SIGKILL');

    // The survivors drop both of the victim's users (USER_LEFT) within a few seconds.
    await vi.waitFor(
      () => {
        for (const left of leftAt)
          expect([...left.keys()].sort()).toEqual([...victimConnections].sort());
      },
      { timeout: USER_LEFT_WITHIN_MS, interval: 20 },
    );
    const userLeftMs = Math.max(...leftAt.flatMap((left) => [...left.values()])) - killedAt;
    // The victim's clients came back through the proxy on a live node and write again.
    await vi.waitFor(
      () => {
        expect(victimLb.session.room.getStatus()).toBe('connected');
        expect(victimLb.session.room.getSelf()?.connectionId).not.toBe(victimSelf);
        expect(victimYws.session.provider.wsconnected).toBe(true);
        expect(storageWriters[1]!.storage.room.getStatus()).toBe('connected');
      },
      { timeout: 10_000, interval: 20 },
    );
    const reconnectedMs = Math.max(lbBackAt!, ywsBackAt!) - killedAt;
    const acked = {
      lb2: ledger.of('lb2').length,
      yws2: ledger.of('yws2').length,
      st2: storageLedger.of('st2').length,
    };
    await vi.waitFor(
      () => {
        expect(ledger.of('lb2').length).toBeGreaterThan(acked.lb2 + 10);
        expect(ledger.of('yws2').length).toBeGreaterThan(acked.yws2 + 10);
        expect(storageLedger.of('st2').length).toBeGreaterThan(acked.st2 + 10);
      },
      { timeout: 10_000 },
    );
    load.stop();
    expect(allSent(writers).size).toBeGreaterThan(sentBeforeKill);
    expect(victim!.proxy.routed.slice(-1)[0]).not.toBe(victim!.child.port);

    await expectConverged(writers, allSent(writers), ledger);
    await expectStorageConverged(storageWriters, allSent(storageWriters), storageLedger);
    // A node started now never held the room: it loads it from Postgres and Redis.
    const witness = await cluster.startNode('kill-witness');
    await expectServedByNode(witness, TARGET.roomId, allSent(writers), ledger);
    await expectStorageServedByNode(witness, TARGET.roomId, allSent(storageWriters), storageLedger);
    await annotate(
      `node SIGKILL → USER_LEFT on every other node after ${Math.round(userLeftMs)} ms; ` +
        `its clients reconnected after ${Math.round(reconnectedMs)} ms; ` +
        `${ledger.size} acknowledged Yjs writes and ${storageLedger.size} Storage writes, all present`,
    );
  });
});

function usersOf(writer: LiveblocksWriter): (string | undefined)[] {
  return writer.session.room
    .getOthers()
    .map((other) => other.id)
    .sort();
}
