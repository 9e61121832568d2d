import { closeFleet, connectFleet } from '../clients/yjs-fleet.js';
import { sleep } from '../lib/deadline.js';
import type { BenchOptions } from '../lib/options.js';
import { ServerWindow } from '../lib/server-window.js';
import { TokenPool } from '../lib/tokens.js';
import {
  figureValue,
  round,
  type Scenario,
  type ScenarioContext,
  type SystemResult,
} from './scenario.js';

/** Distinct users among the sockets; each node mints this many tokens before the baseline. */
const DISTINCT_USERS = 64;
/** Time the idle server is left alone before the baseline RSS is read, in milliseconds. */
const BASELINE_SETTLE_MS = 1_000;

interface ConnectionsSettings {
  connections: number;
  perRoom: number;
  holdS: number;
}

export const connections: Scenario = {
  name: 'connections',
  summary: 'N idle sockets joining, syncing and setting presence; server RSS per connection',
  protocols: ['yjs', 'liveblocks'],
  relay: true,
  weftEnv: (options) => ({
    MAX_CONNECTIONS_PER_ROOM: String(Math.max(100, settingsOf(options).perRoom)),
  }),
  parameters: (options) => ({ ...settingsOf(options) }),
  run,
  headline(results) {
    const lines: string[] = [];
    for (const weft of results.filter((r) => r.kind === 'weft')) {
      const relay = results.find((r) => r.kind === 'relay' && r.protocol === weft.protocol);
      const kb = figureValue(weft, 'rss-per-connection-kb');
      if (kb === undefined) continue;
      const relayKb = figureValue(relay, 'rss-per-connection-kb');
      lines.push(
        `connections · ${weft.system} · ${weft.protocol}: ${kb.toFixed(1)} kB RSS per idle connection` +
          (relayKb === undefined ? '' : ` (relay ${relayKb.toFixed(1)} kB)`) +
          ` — target ≤ 10 kB: ${kb <= 10 ? 'met' : `missed by ${(kb - 10).toFixed(1)} kB`}.`,
      );
    }
    return lines;
  },
};

function settingsOf(options: BenchOptions): ConnectionsSettings {
  return {
    connections: options.connections ?? 5_000,
    perRoom: options.perRoom ?? 50,
    holdS: options.durationS ?? 5,
  };
}

/**
 * Reads the server's RSS while idle, connects every socket (each syncs and sets its presence),
 * holds them idle for a while, then reads RSS again: the difference over N is what one idle
 * connection costs, room state included (a room per `perRoom` sockets).
 */
async function run(context: ScenarioContext): Promise<SystemResult> {
  const { system, protocol, progress } = context;
  const settings = settingsOf(context.options);
  const rooms = Math.ceil(settings.connections / settings.perRoom);
  const roomIds = Array.from({ length: rooms }, (_, i) => `${system.roomPrefix}-conn-${i}`);

  // Tokens first: minting touches the store and the key, which must not count as per-socket.
  const tokens = new TokenPool((node, user) => system.token(node, user), DISTINCT_USERS);
  for (let node = 0; node < system.urls.length; node++) {
    for (let user = 0; user < Math.min(DISTINCT_USERS, settings.connections); user++) {
      await tokens.get(node, user);
    }
  }
  system.sampler.start();
  await sleep(BASELINE_SETTLE_MS);
  const window = await ServerWindow.open(system);

  progress.phase(
    `${system.label} · ${protocol}: connecting ${settings.connections} sockets in ${rooms} rooms`,
  );
  const startedAt = performance.now();
  const members = await connectFleet({
    system,
    protocol,
    roomIds,
    count: settings.connections,
    roomOf: (index) => Math.floor(index / settings.perRoom),
    tokens,
    progress,
  });
  const joinS = (performance.now() - startedAt) / 1000;

  try {
    for (const member of members) {
      member.client.setPresence({
        cursor: { x: member.index % 800, y: member.room },
        name: `user ${member.index}`,
      });
    }
    progress.phase(
      `${system.label} · ${protocol}: holding ${settings.connections} idle sockets for ${settings.holdS} s`,
    );
    const holdUntil = performance.now() + settings.holdS * 1000;
    while (performance.now() < holdUntil) {
      const failure = system.failure();
      if (failure) throw new Error(failure);
      await sleep(100);
    }
    const usage = await window.close();
    system.sampler.stop();

    const closed = members.filter((member) => member.client.closeReason !== undefined);
    const perConnectionKb = (usage.rssAfterKb - usage.rssBeforeKb) / settings.connections;

    return {
      system: system.label,
      kind: system.kind,
      protocol,
      nodes: system.urls.length,
      runtime: system.runtime,
      figures: [
        { key: 'connections', label: 'sockets', value: settings.connections, digits: 0 },
        { key: 'rooms', label: 'rooms', value: rooms, digits: 0 },
        {
          key: 'time-to-all-synced-s',
          label: 'time to all synced',
          value: round(joinS, 2),
          unit: 's',
          digits: 2,
        },
        {
          key: 'joins-per-s',
          label: 'joins/s',
          value: round(settings.connections / joinS, 1),
          digits: 0,
        },
        ...(usage.sampled
          ? [
              {
                key: 'rss-before-mb',
                label: 'server RSS before',
                value: round(usage.rssBeforeKb / 1024, 1),
                unit: 'MB',
              },
              {
                key: 'rss-after-mb',
                label: 'server RSS after',
                value: round(usage.rssAfterKb / 1024, 1),
                unit: 'MB',
              },
              {
                key: 'rss-peak-mb',
                label: 'server RSS peak',
                value: round(usage.rssPeakKb / 1024, 1),
                unit: 'MB',
              },
              {
                key: 'rss-per-connection-kb',
                label: 'server RSS per connection',
                value: round(perConnectionKb, 2),
                unit: 'kB',
              },
              {
                key: 'cpu-ms-per-join',
                label: 'server CPU per join',
                value: round((usage.cpuSeconds * 1000) / settings.connections, 3),
                unit: 'ms',
                digits: 2,
              },
            ]
          : [
              {
                key: 'rss-per-connection-kb',
                label: 'server RSS per connection',
                value: 'not sampled (external, no --pid)',
              },
            ]),
        {
          key: 'generator-cpu-percent',
          label: 'load generator CPU (of one core)',
          value: round((usage.generatorCpuSeconds / usage.wallSeconds) * 100, 1),
          unit: '%',
          digits: 0,
        },
      ],
      latency: {},
      curves: {},
      checks: [
        {
          name: 'every socket synced and still open',
          passed: closed.length === 0,
          detail:
            closed.length === 0
              ? `${settings.connections} open after ${settings.holdS} s idle`
              : `${closed.length} closed, first: ${closed[0]!.client.closeReason}`,
        },
      ],
      samples: system.sampler.samples,
    };
  } finally {
    closeFleet(members);
  }
}
