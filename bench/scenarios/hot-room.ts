import { DeliveryTracker } from '../clients/delivery-tracker.js';
import { closeFleet, connectFleet, divergentRooms } from '../clients/yjs-fleet.js';
import { sleep, waitUntil } from '../lib/deadline.js';
import type { BenchOptions } from '../lib/options.js';
import { ServerWindow } from '../lib/server-window.js';
import { cpuHeadline, latencyOf, serverFigures } from './measure.js';
import { round, type Scenario, type ScenarioContext, type SystemResult } from './scenario.js';
import { sendEdit, TEXT_NAME } from './text-edits.js';

/** The writer stops when no update has reached every reader for this long, in milliseconds. */
const STALL_MS = 10_000;
/** Longest wait for the last deliveries once sending stopped, in milliseconds. */
const DRAIN_TIMEOUT_MS = 15_000;
/** Longest wait for every reader to hold the writer's text, in milliseconds. */
const CONVERGE_TIMEOUT_MS = 10_000;

interface HotRoomSettings {
  readers: number;
  window: number;
  durationS: number;
}

export const hotRoom: Scenario = {
  name: 'hot-room',
  summary: 'one writer as fast as a window of unacknowledged updates allows, many readers',
  protocols: ['yjs', 'liveblocks'],
  relay: true,
  weftEnv(options) {
    return {
      MAX_CONNECTIONS_PER_ROOM: String(Math.max(100, settingsOf(options).readers + 1)),
      // The writer sends as fast as delivery allows, far above a person's typing.
      MAX_MESSAGES_PER_SECOND: '1000000',
    };
  },
  parameters: (options) => ({ ...settingsOf(options) }),
  run,
  headline: (results) => cpuHeadline(results, 'hot-room'),
};

function settingsOf(options: BenchOptions): HotRoomSettings {
  return {
    readers: options.readers ?? 50,
    window: options.window ?? 16,
    durationS: options.durationS ?? 10,
  };
}

/**
 * The writer keeps `window` updates in flight; an update counts as acknowledged once every reader
 * has it. So its pace is the room's fan-out throughput, whatever the protocol's own
 * acknowledgements (y-websocket has none).
 */
async function run(context: ScenarioContext): Promise<SystemResult> {
  const { system, protocol, progress } = context;
  const settings = settingsOf(context.options);
  let fullyDelivered = 0;
  let lastFullAt = performance.now();
  let pumpScheduled = false;
  let sending = false;
  const tracker = new DeliveryTracker(() => {
    fullyDelivered++;
    lastFullAt = performance.now();
    if (sending && !pumpScheduled) {
      pumpScheduled = true;
      setImmediate(pump);
    }
  });

  progress.phase(
    `${system.label} · ${protocol}: connecting 1 writer and ${settings.readers} readers`,
  );
  const members = await connectFleet({
    system,
    protocol,
    roomIds: [`${system.roomPrefix}-hot`],
    count: settings.readers + 1,
    roomOf: () => 0,
    onRemoteUpdate: (member, update, arrivedAt) =>
      tracker.recordArrival(member.clientId, member.node, update, arrivedAt),
    progress,
  });
  const writer = members[0]!;
  tracker.addSender(writer.clientId, writer.node, settings.readers);

  function pump() {
    pumpScheduled = false;
    while (sending && tracker.sent - fullyDelivered < settings.window) sendEdit(writer, tracker);
  }

  try {
    system.sampler.start();
    const window = await ServerWindow.open(system);
    progress.phase(`${system.label} · ${protocol}: writing for ${settings.durationS} s`);
    const startedAt = performance.now();
    const endAt = startedAt + settings.durationS * 1000;
    sending = true;
    pump();

    let stalled = false;
    while (performance.now() < endAt) {
      const failure = system.failure();
      if (failure) throw new Error(failure);
      if (performance.now() - lastFullAt > STALL_MS) {
        stalled = true;
        break;
      }
      progress.update(() => ({
        fraction: (performance.now() - startedAt) / (endAt - startedAt),
        facts: {
          sent: tracker.sent,
          'fully delivered': fullyDelivered,
          p50: `${tracker.all.percentile(50).toFixed(1)} ms`,
        },
      }));
      await sleep(100);
    }
    sending = false;
    const writingS = (performance.now() - startedAt) / 1000;

    progress.phase(`${system.label} · ${protocol}: draining`);
    await waitUntil(() => tracker.delivered >= tracker.expected, {
      timeoutMs: DRAIN_TIMEOUT_MS,
      what: 'the last deliveries',
      soft: true,
    });
    const usage = await window.close();
    system.sampler.stop();

    await waitUntil(() => divergentRooms(members, TEXT_NAME).length === 0, {
      timeoutMs: CONVERGE_TIMEOUT_MS,
      what: 'the readers to converge',
      soft: true,
    });
    const divergent = divergentRooms(members, TEXT_NAME);
    const latency = latencyOf(tracker, system.urls.length);

    return {
      system: system.label,
      kind: system.kind,
      protocol,
      nodes: system.urls.length,
      runtime: system.runtime,
      figures: [
        { key: 'sent', label: 'updates written', value: tracker.sent, digits: 0 },
        {
          key: 'written-per-s',
          label: 'writer updates/s',
          value: round(tracker.sent / writingS, 1),
          digits: 0,
        },
        { key: 'delivered', label: 'updates delivered', value: tracker.delivered, digits: 0 },
        {
          key: 'delivered-per-s',
          label: 'delivered updates/s',
          value: round(tracker.delivered / usage.wallSeconds, 1),
          digits: 0,
        },
        {
          key: 'delivery-ratio',
          label: 'delivery ratio',
          value: round(tracker.ratio(), 4),
          digits: 4,
        },
        ...latency.figures,
        ...serverFigures(usage, system, tracker.delivered, tracker.sent),
      ],
      latency: latency.latency,
      curves: latency.curves,
      checks: [
        {
          name: 'every update delivered',
          passed: tracker.delivered === tracker.expected && !stalled,
          detail: `${tracker.delivered} of ${tracker.expected} deliveries${stalled ? `; the window stalled for ${STALL_MS} ms` : ''}`,
        },
        {
          name: 'converged',
          passed: divergent.length === 0,
          detail:
            divergent.length === 0
              ? `${settings.readers} readers hold the writer's text`
              : divergent.join('; '),
        },
      ],
      samples: system.sampler.samples,
    };
  } finally {
    sending = false;
    closeFleet(members);
  }
}
