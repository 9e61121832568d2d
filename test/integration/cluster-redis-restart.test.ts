import { describe, expect, it, vi } from 'vitest';

import { restClient, type CloseInfo, type NodeAddress } from '../support/clients.js';
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
  type Target,
} from '../support/cluster-workload.js';
import { startRedisServer } from '../support/redis-server.js';
import { metricValue, scrapeMetrics, startWeftCluster } from '../support/weft-cluster.js';

/**
 * Redis (AOF, fsync always) is SIGKILLed and restarted while clients on two of three nodes
 * write to one room. Writes made during the outage must not be acknowledged before Redis is
 * back; sockets whose writes wait past WRITE_STALL_TIMEOUT_MS close with 1013 and their clients
 * reconnect and resend; afterwards everyone converges, and the third node, which never held
 * the room, serves every acknowledged write from Postgres and the Redis log.
 */

const TARGET: Target = { roomId: 'cluster-redis-restart-room', organizationId: 'acme' };
const WRITE_STALL_TIMEOUT_MS = 1_000;
const WRITE_INTERVAL_MS = 40;

describe('Redis SIGKILLed and restarted under load', () => {
  it('holds writes during the outage, closes stalled sockets with 1013, and loses no acknowledged write', async ({
    annotate,
  }) => {
    const redis = await startRedisServer({ appendOnly: true });
    const cluster = await startWeftCluster({
      redisUrl: redis.url,
      idPrefix: 'outage',
      env: { WRITE_STALL_TIMEOUT_MS: String(WRITE_STALL_TIMEOUT_MS) },
    });
    const [a, b, witness] = cluster.nodes;
    await restClient(a!.direct).createRoom(TARGET.roomId, {
      defaultAccesses: ['room:write'],
      organizationId: TARGET.organizationId,
    });
    await initializeWritesStorage(a!.direct, TARGET.roomId);
    const ledger = new AckLedger();
    const storageLedger = new AckLedger();
    const lb0 = await liveblocksWriter(a!.direct, TARGET, 'lb0', ledger);
    const lb1 = await liveblocksWriter(b!.direct, TARGET, 'lb1', ledger);
    const yws0 = await yWebsocketWriter(a!.direct, TARGET, 'yws0', ledger);
    const yws1 = await yWebsocketWriter(b!.direct, TARGET, 'yws1', ledger);
    const writers = [lb0, lb1, yws0, yws1];
    const storageWriters = [
      await storageWriter(a!.direct, TARGET, 'st0', storageLedger),
      await storageWriter(b!.direct, TARGET, 'st1', storageLedger),
    ];
    const closes: CloseInfo[][] = [
      lb0.session.closes,
      lb1.session.closes,
      yws0.session.closes,
      yws1.session.closes,
    ];

    const load = startLoad([...writers, ...storageWriters], WRITE_INTERVAL_MS);
    await vi.waitFor(() => expect(ledger.size).toBeGreaterThan(60), { timeout: 5_000 });

    const killedAt = performance.now();
    await redis.kill();

    // Both nodes see Redis gone; writes wait, and past the bound their sockets close with 1013.
    await vi.waitFor(
      async () => {
        for (const node of [a!, b!])
          expect(await readiness(node.direct)).toMatchObject({ httpStatus: 503, redis: false });
      },
      { timeout: 5_000, interval: 50 },
    );
    await vi.waitFor(() => expect(closes.flat().map((close) => close.code)).toContain(1013), {
      timeout: 5_000,
      interval: 20,
    });
    expect(await metricValue(await scrapeMetrics(a!.direct), 'weft_redis_connected')).toBe(0);

    await redis.restart();
    const restartedAt = performance.now();
    await vi.waitFor(() => expect(ledger.firstAfter(restartedAt)).toBeDefined(), {
      timeout: 10_000,
      interval: 10,
    });
    const flowingMs = ledger.firstAfter(restartedAt)! - restartedAt;
    for (const node of [a!, b!]) {
      await vi.waitFor(
        async () =>
          expect(await readiness(node.direct)).toMatchObject({ httpStatus: 200, redis: true }),
        {
          timeout: 5_000,
          interval: 50,
        },
      );
    }
    // Every writer's new writes get acknowledged again.
    const ackedAfterRestart = new Map(
      [...writers.map((writer) => [writer.name, ledger.of(writer.name).length] as const)].concat(
        storageWriters.map((writer) => [writer.name, storageLedger.of(writer.name).length]),
      ),
    );
    await vi.waitFor(
      () => {
        for (const writer of writers) {
          expect(ledger.of(writer.name).length).toBeGreaterThan(
            ackedAfterRestart.get(writer.name)! + 5,
          );
        }
        for (const writer of storageWriters) {
          expect(storageLedger.of(writer.name).length).toBeGreaterThan(
            ackedAfterRestart.get(writer.name)! + 5,
          );
        }
      },
      { timeout: 15_000, interval: 50 },
    );
    load.stop();

    // Nothing written after the kill was acknowledged before Redis was back.
    const sentAt = new Map([...writers, ...storageWriters].flatMap((writer) => [...writer.sent]));
    const ackedTooEarly = [...ledger.firstSeen, ...storageLedger.firstSeen].filter(
      ([key, at]) => sentAt.get(key)! > killedAt && at < restartedAt,
    );
    expect(ackedTooEarly).toEqual([]);
    expect(
      [...sentAt.values()].filter((at) => at > killedAt && at < restartedAt).length,
    ).toBeGreaterThan(0);

    await expectConverged(writers, allSent(writers), ledger);
    await expectStorageConverged(storageWriters, allSent(storageWriters), storageLedger);
    await expectServedByNode(witness!.direct, TARGET.roomId, allSent(writers), ledger);
    await expectStorageServedByNode(
      witness!.direct,
      TARGET.roomId,
      allSent(storageWriters),
      storageLedger,
    );
    const closed1013 = closes.flat().filter((close) => close.code === 1013).length;
    await annotate(
      `Redis down ${Math.round(restartedAt - killedAt)} ms; writes acknowledged again ` +
        `${Math.round(flowingMs)} ms after the restart; ${closed1013} socket(s) closed with 1013; ` +
        `${ledger.size} acknowledged Yjs writes and ${storageLedger.size} Storage writes, all present`,
    );
  });
});

async function readiness(node: NodeAddress): Promise<Record<string, unknown>> {
  const response = await fetch(`${node.url}/readyz`);
  return { ...((await response.json()) as Record<string, unknown>), httpStatus: response.status };
}
