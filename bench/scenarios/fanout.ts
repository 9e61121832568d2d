import { DeliveryTracker } from '../clients/delivery-tracker.js';
import {
  closeFleet,
  connectFleet,
  divergentRooms,
  type FleetMember,
} from '../clients/yjs-fleet.js';
import { sleep, waitUntil } from '../lib/deadline.js';
import type { BenchOptions } from '../lib/options.js';
import { ServerWindow } from '../lib/server-window.js';
import { cpuHeadline, latencyOf, serverFigures } from './measure.js';
import { round, type Scenario, type ScenarioContext, type SystemResult } from './scenario.js';
import { sendEdit, TEXT_NAME } from './text-edits.js';

/** Scheduler tick of the senders, in milliseconds. */
const TICK_MS = 5;
/** A sender further behind its schedule than this skips the missed sends instead of bursting. */
const MAX_LAG_MS = 1_000;
/** Longest wait for the last deliveries once sending stopped, in milliseconds. */
const DRAIN_TIMEOUT_MS = 15_000;
/** Longest wait for every doc of a room to hold the same text, in milliseconds. */
const CONVERGE_TIMEOUT_MS = 10_000;

interface FanoutSettings {
  rooms: number;
  clients: number;
  rate: number;
  durationS: number;
}

export const fanout: Scenario = {
  name: 'fanout',
  summary: 'R rooms × C clients editing a shared Y.Text at a fixed rate (default 50 × 10, 1/s)',
  protocols: ['yjs', 'liveblocks'],
  relay: true,
  weftEnv(options) {
    const settings = settingsOf(options);
    return {
      MAX_CONNECTIONS_PER_ROOM: String(Math.max(100, settings.clients)),
      MAX_MESSAGES_PER_SECOND: String(Math.max(200, Math.ceil(settings.rate * 4))),
    };
  },
  parameters: (options) => ({ ...settingsOf(options) }),
  run,
  headline: (results) => cpuHeadline(results, 'fanout'),
};

function settingsOf(options: BenchOptions): FanoutSettings {
  return {
    rooms: options.rooms ?? 50,
    clients: options.clients ?? 10,
    rate: options.rate ?? 1,
    durationS: options.durationS ?? 20,
  };
}

async function run(context: ScenarioContext): Promise<SystemResult> {
  const { system, protocol, progress } = context;
  const settings = settingsOf(context.options);
  const roomIds = Array.from(
    { length: settings.rooms },
    (_, i) => `${system.roomPrefix}-fanout-${i}`,
  );
  const tracker = new DeliveryTracker();

  progress.phase(
    `${system.label} · ${protocol}: connecting ${settings.rooms} × ${settings.clients} clients`,
  );
  const members = await connectFleet({
    system,
    protocol,
    roomIds,
    count: settings.rooms * settings.clients,
    roomOf: (index) => Math.floor(index / settings.clients),
    onRemoteUpdate: (member, update, arrivedAt) =>
      tracker.recordArrival(member.clientId, member.node, update, arrivedAt),
    progress,
  });

  try {
    for (const member of members)
      tracker.addSender(member.clientId, member.node, settings.clients - 1);

    system.sampler.start();
    const window = await ServerWindow.open(system);
    progress.phase(`${system.label} · ${protocol}: sending for ${settings.durationS} s`);
    const skipped = await sendAtRate(context, members, tracker, settings);

    progress.phase(`${system.label} · ${protocol}: draining`);
    await waitUntil(() => tracker.delivered >= tracker.expected || system.failure() !== undefined, {
      timeoutMs: DRAIN_TIMEOUT_MS,
      what: 'the last deliveries',
      soft: true,
    });
    const usage = await window.close();
    system.sampler.stop();

    await waitUntil(() => divergentRooms(members, TEXT_NAME).length === 0, {
      timeoutMs: CONVERGE_TIMEOUT_MS,
      what: 'every room to converge',
      soft: true,
    });
    const divergent = divergentRooms(members, TEXT_NAME);
    const failure = system.failure();
    const latency = latencyOf(tracker, system.urls.length);

    return {
      system: system.label,
      kind: system.kind,
      protocol,
      nodes: system.urls.length,
      runtime: system.runtime,
      figures: [
        { key: 'sent', label: 'updates sent', value: tracker.sent, digits: 0 },
        { key: 'delivered', label: 'updates delivered', value: tracker.delivered, digits: 0 },
        {
          key: 'delivery-ratio',
          label: 'delivery ratio',
          value: round(tracker.ratio(), 4),
          digits: 4,
        },
        {
          key: 'delivered-per-s',
          label: 'delivered updates/s',
          value: round(tracker.delivered / usage.wallSeconds, 1),
          digits: 0,
        },
        ...latency.figures,
        ...serverFigures(usage, system, tracker.delivered, tracker.sent),
        {
          key: 'skipped-sends',
          label: 'sends skipped (generator behind)',
          value: skipped,
          digits: 0,
        },
      ],
      latency: latency.latency,
      curves: latency.curves,
      checks: [
        {
          name: 'every update delivered',
          passed: tracker.delivered === tracker.expected,
          detail: `${tracker.delivered} of ${tracker.expected} deliveries${tracker.unmatched ? `, ${tracker.unmatched} unmatched` : ''}`,
        },
        {
          name: 'converged',
          passed: divergent.length === 0,
          detail:
            divergent.length === 0
              ? `${settings.rooms} rooms equal`
              : divergent.slice(0, 5).join('; '),
        },
        ...(failure ? [{ name: 'server alive', passed: false, detail: failure }] : []),
      ],
      samples: system.sampler.samples,
    };
  } finally {
    closeFleet(members);
  }
}

/**
 * Every client sends `rate` edits per second, on a schedule spread evenly over the clients, for
 * `durationS` seconds. Returns how many sends were skipped because the generator fell behind.
 */
async function sendAtRate(
  context: ScenarioContext,
  members: readonly FleetMember[],
  tracker: DeliveryTracker,
  settings: FanoutSettings,
): Promise<number> {
  const { system, progress } = context;
  const periodMs = 1000 / settings.rate;
  const startedAt = performance.now();
  const endAt = startedAt + settings.durationS * 1000;
  const nextAt = members.map(() => startedAt + Math.random() * periodMs);
  let skipped = 0;
  let lastProgress = 0;

  for (let now = performance.now(); now < endAt; now = performance.now()) {
    for (let index = 0; index < members.length; index++) {
      if (nextAt[index]! > now) continue;
      if (now - nextAt[index]! > MAX_LAG_MS) {
        const missed = Math.floor((now - nextAt[index]!) / periodMs);
        skipped += missed;
        nextAt[index]! += missed * periodMs;
      }
      sendEdit(members[index]!, tracker);
      nextAt[index]! += periodMs;
    }

    if (now - lastProgress > 250) {
      lastProgress = now;
      const failure = system.failure();
      if (failure) throw new Error(failure);
      progress.update(() => ({
        fraction: (performance.now() - startedAt) / (endAt - startedAt),
        facts: {
          sent: tracker.sent,
          delivered: tracker.delivered,
          ratio: tracker.ratio().toFixed(3),
          p50: `${tracker.all.percentile(50).toFixed(1)} ms`,
        },
      }));
    }
    await sleep(TICK_MS);
  }
  return skipped;
}
