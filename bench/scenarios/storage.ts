import {
  createClient,
  LiveList,
  LiveMap,
  type Client,
  type LsonObject,
  type Room,
  type StorageUpdate,
} from '@liveblocks/client';
import WebSocket from 'ws';

import { mapWithLimit, sleep, waitUntil, withTimeout } from '../lib/deadline.js';
import { LatencyRecorder } from '../lib/latency.js';
import type { BenchOptions } from '../lib/options.js';
import { ServerWindow } from '../lib/server-window.js';
import { cpuHeadline, latencyOf, serverFigures } from './measure.js';
import { round, type Scenario, type ScenarioContext, type SystemResult } from './scenario.js';

/** Longest wait for one client to connect and load Storage, in milliseconds. */
const JOIN_TIMEOUT_MS = 30_000;
/** Clients joining at once. */
const JOIN_CONCURRENCY = 8;
/** Scheduler tick of the senders, in milliseconds. */
const TICK_MS = 5;
/** Longest wait for the last ops once sending stopped, in milliseconds. */
const DRAIN_TIMEOUT_MS = 15_000;
/** Longest wait for every client of a room to hold the same Storage, in milliseconds. */
const CONVERGE_TIMEOUT_MS = 15_000;
/**
 * The SDK batches outgoing ops for `throttle` ms (100 by default, 16 at least); the bench uses
 * the minimum so that latency shows the server rather than the client's batching.
 */
const CLIENT_THROTTLE_MS = 16;

interface StorageSettings {
  rooms: number;
  clients: number;
  rate: number;
  durationS: number;
}

type BenchStorage = LsonObject & {
  list: LiveList<{ c: number; s: number }>;
  map: LiveMap<string, number>;
};

interface StorageMember {
  index: number;
  room: number;
  node: number;
  client: Client;
  liveRoom: Room<Record<string, never>, BenchStorage>;
  leave: () => void;
  list: LiveList<{ c: number; s: number }>;
  map: LiveMap<string, number>;
  seq: number;
}

/** One op in flight: when it was made, and how many other clients still have to see it. */
interface SentOp {
  sentAt: number;
  senderNode: number;
  pending: number;
}

export const storage: Scenario = {
  name: 'storage',
  summary: '@liveblocks/client clients pushing to a LiveList and setting LiveMap keys',
  protocols: ['liveblocks'],
  // Storage needs a server that owns the tree; the relay cannot serve it.
  relay: false,
  weftEnv: (options) => ({
    MAX_CONNECTIONS_PER_ROOM: String(Math.max(100, settingsOf(options).clients)),
  }),
  parameters: (options) => ({ ...settingsOf(options) }),
  run,
  headline: (results) => cpuHeadline(results, 'storage'),
};

function settingsOf(options: BenchOptions): StorageSettings {
  return {
    rooms: options.rooms ?? 10,
    clients: options.clients ?? 5,
    rate: options.rate ?? 5,
    durationS: options.durationS ?? 15,
  };
}

/**
 * Real SDK clients, so Storage goes through the exact ops, acks and fixes the SDK produces. Each
 * client alternates `list.push({ c, s })` and `map.set("c:s", s)`; every other client of the
 * room sees each op through a deep subscription, which gives its latency.
 */
async function run(context: ScenarioContext): Promise<SystemResult> {
  const { system, progress } = context;
  const settings = settingsOf(context.options);
  const inFlight = new Map<string, SentOp>();
  const tracker = {
    sent: 0,
    expected: 0,
    delivered: 0,
    sameNode: new LatencyRecorder(),
    crossNode: new LatencyRecorder(),
    all: new LatencyRecorder(),
  };
  let measuring = false;

  const onArrival = (receiver: StorageMember, key: string, arrivedAt: number) => {
    const op = inFlight.get(key);
    if (!op || !measuring) return;
    const latencyMs = arrivedAt - op.sentAt;
    tracker.all.record(latencyMs);
    (op.senderNode === receiver.node ? tracker.sameNode : tracker.crossNode).record(latencyMs);
    tracker.delivered++;
    if (--op.pending === 0) inFlight.delete(key);
  };

  progress.phase(
    `${system.label} · liveblocks: ${settings.rooms} × ${settings.clients} SDK clients entering rooms`,
  );
  const members: StorageMember[] = [];
  let joined = 0;
  try {
    // The first client of each room creates its Storage alone: clients entering an empty room
    // together would each write their initial list and map, and all but one would be replaced.
    const all = Array.from({ length: settings.rooms * settings.clients }, (_, index) => index);
    const firsts = all.filter((index) => index % settings.clients === 0);
    const others = all.filter((index) => index % settings.clients !== 0);
    for (const batch of [firsts, others]) {
      await mapWithLimit(batch, JOIN_CONCURRENCY, async (index) => {
        const member = await join(context, index, settings, onArrival);
        members.push(member);
        joined++;
        progress.update({
          fraction: joined / (settings.rooms * settings.clients),
          facts: { joined },
        });
      });
    }
  } catch (error) {
    leaveAll(members);
    throw error;
  }

  try {
    system.sampler.start();
    const window = await ServerWindow.open(system);
    progress.phase(`${system.label} · liveblocks: writing for ${settings.durationS} s`);
    measuring = true;
    const periodMs = 1000 / settings.rate;
    const startedAt = performance.now();
    const endAt = startedAt + settings.durationS * 1000;
    const nextAt = members.map(() => startedAt + Math.random() * periodMs);

    for (let now = performance.now(); now < endAt; now = performance.now()) {
      for (const [position, member] of members.entries()) {
        if (nextAt[position]! > now) continue;
        nextAt[position] = Math.max(nextAt[position]! + periodMs, now - 1000);
        const seq = member.seq++;
        inFlight.set(`${member.index}:${seq}`, {
          sentAt: now,
          senderNode: member.node,
          pending: settings.clients - 1,
        });
        tracker.sent++;
        tracker.expected += settings.clients - 1;
        if (seq % 2 === 0) member.list.push({ c: member.index, s: seq });
        else member.map.set(`${member.index}:${seq}`, seq);
      }
      const failure = system.failure();
      if (failure) throw new Error(failure);
      progress.update(() => ({
        fraction: (performance.now() - startedAt) / (endAt - startedAt),
        facts: {
          ops: tracker.sent,
          delivered: tracker.delivered,
          p50: `${tracker.all.percentile(50).toFixed(1)} ms`,
        },
      }));
      await sleep(TICK_MS);
    }
    const writingS = (performance.now() - startedAt) / 1000;

    progress.phase(`${system.label} · liveblocks: draining`);
    await waitUntil(() => tracker.delivered >= tracker.expected, {
      timeoutMs: DRAIN_TIMEOUT_MS,
      what: 'the last ops',
      soft: true,
    });
    const usage = await window.close();
    system.sampler.stop();
    measuring = false;

    const converged = await waitUntil(() => divergentRooms(members).length === 0, {
      timeoutMs: CONVERGE_TIMEOUT_MS,
      what: 'every room to converge',
      soft: true,
    });
    const divergent = converged ? [] : divergentRooms(members);
    const latency = latencyOf(tracker, system.urls.length);

    return {
      system: system.label,
      kind: system.kind,
      protocol: 'liveblocks',
      nodes: system.urls.length,
      runtime: system.runtime,
      figures: [
        { key: 'ops', label: 'ops sent', value: tracker.sent, digits: 0 },
        { key: 'ops-per-s', label: 'ops/s', value: round(tracker.sent / writingS, 1), digits: 0 },
        { key: 'delivered', label: 'ops delivered', value: tracker.delivered, digits: 0 },
        {
          key: 'delivered-per-s',
          label: 'delivered ops/s',
          value: round(tracker.delivered / usage.wallSeconds, 1),
          digits: 0,
        },
        {
          key: 'delivery-ratio',
          label: 'delivery ratio',
          value: round(tracker.expected ? tracker.delivered / tracker.expected : 1, 4),
          digits: 4,
        },
        ...latency.figures,
        ...serverFigures(usage, system, tracker.delivered, tracker.sent),
      ],
      latency: latency.latency,
      curves: latency.curves,
      checks: [
        {
          name: 'every op delivered',
          passed: tracker.delivered === tracker.expected,
          detail: `${tracker.delivered} of ${tracker.expected} deliveries`,
        },
        {
          name: 'converged',
          passed: divergent.length === 0,
          detail:
            divergent.length === 0
              ? `${settings.rooms} rooms hold every push and every key, equal on all clients`
              : divergent.slice(0, 5).join('; '),
        },
      ],
      samples: system.sampler.samples,
    };
  } finally {
    leaveAll(members);
  }
}

async function join(
  context: ScenarioContext,
  index: number,
  settings: StorageSettings,
  onArrival: (receiver: StorageMember, key: string, arrivedAt: number) => void,
): Promise<StorageMember> {
  const { system } = context;
  const node = index % system.urls.length;
  const room = Math.floor(index / settings.clients);
  const client = createClient({
    baseUrl: system.urls[node]!,
    // A fresh token per call: the SDK refuses a token it has already seen.
    authEndpoint: async () => ({ token: await system.token(node, `bench-storage-${index}`) }),
    polyfills: { WebSocket: WebSocket as never },
    throttle: CLIENT_THROTTLE_MS,
  });
  const { room: liveRoom, leave } = client.enterRoom<Record<string, never>, BenchStorage>(
    `${system.roomPrefix}-storage-${room}`,
    {
      initialPresence: {},
      initialStorage: () => ({
        list: new LiveList<{ c: number; s: number }>([]),
        map: new LiveMap<string, number>(),
      }),
    },
  );

  try {
    const { root } = await withTimeout(
      liveRoom.getStorage(),
      JOIN_TIMEOUT_MS,
      'an SDK client to load Storage',
    );
    const member: StorageMember = {
      index,
      room,
      node,
      client,
      liveRoom,
      leave,
      list: root.get('list'),
      map: root.get('map'),
      seq: 0,
    };
    liveRoom.subscribe(
      root,
      (updates: StorageUpdate[]) => {
        const arrivedAt = performance.now();
        for (const update of updates) {
          if (update.source.origin !== 'remote') continue;
          if (update.type === 'LiveList') {
            for (const delta of update.updates) {
              const item =
                delta.type === 'insert' ? (delta.item as { c?: number; s?: number }) : undefined;
              if (item?.c !== undefined) onArrival(member, `${item.c}:${item.s}`, arrivedAt);
            }
          } else if (update.type === 'LiveMap') {
            for (const key of Object.keys(update.updates)) onArrival(member, key, arrivedAt);
          }
        }
      },
      { isDeep: true },
    );
    return member;
  } catch (error) {
    leave();
    throw error;
  }
}

/**
 * Rooms whose clients disagree, or miss ops: every client must hold every push of the room once
 * and every key, in the same order.
 */
function divergentRooms(members: readonly StorageMember[]): string[] {
  const byRoom = new Map<number, StorageMember[]>();
  for (const member of members)
    byRoom.set(member.room, [...(byRoom.get(member.room) ?? []), member]);

  const divergent: string[] = [];
  for (const [room, clients] of byRoom) {
    const pushes = clients.reduce((sum, m) => sum + Math.ceil(m.seq / 2), 0);
    const sets = clients.reduce((sum, m) => sum + Math.floor(m.seq / 2), 0);
    const views = new Set(
      clients.map((m) => JSON.stringify([m.list.filter(() => true), [...m.map.keys()].sort()])),
    );
    const lengths = clients.map((m) => `${m.list.length}/${m.map.size}`);
    if (views.size > 1 || clients.some((m) => m.list.length !== pushes || m.map.size !== sets)) {
      divergent.push(
        `room ${room}: list/map sizes ${lengths.join(' ')}, expected ${pushes}/${sets}`,
      );
    }
  }
  return divergent;
}

function leaveAll(members: readonly StorageMember[]): void {
  for (const member of members) {
    member.leave();
    member.client.logout();
  }
}
