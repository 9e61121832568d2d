import * as Y from 'yjs';

import { closeFleet, connectFleet, type FleetMember } from '../clients/yjs-fleet.js';
import { sleep, waitUntil } from '../lib/deadline.js';
import { LatencyRecorder } from '../lib/latency.js';
import type { BenchOptions } from '../lib/options.js';
import { ServerWindow } from '../lib/server-window.js';
import { TokenPool } from '../lib/tokens.js';
import {
  round,
  type Figure,
  type Scenario,
  type ScenarioContext,
  type SystemResult,
} from './scenario.js';
import { TEXT_NAME, typeSomething } from './text-edits.js';

/** Characters of one paragraph the writer inserts while building the document. */
const PARAGRAPH_CHARS = 256;
/** Paragraphs per transaction (one update message each) while building. */
const PARAGRAPHS_PER_UPDATE = 16;
/** Longest wait for the server to hold the whole document, in milliseconds. */
const SEED_TIMEOUT_MS = 120_000;
/** clientIDs of the joiners start here, clear of the writer's and the probe's. */
const FIRST_JOINER_ID = 1_000;

interface ColdJoinSettings {
  docKb: number;
  joiners: number[];
}

/** What one wave of joiners measured. */
interface Wave {
  joiners: number;
  waveMs: number;
  joinersPerS: number;
  syncP50Ms: number;
  syncMaxMs: number;
  cpuMsPerJoiner: number | null;
  syncBytes: number;
  matches: boolean;
}

export const coldJoin: Scenario = {
  name: 'cold-join',
  summary: 'waves of clients joining a room with a ~1 MB document; time to synced, joiners/s',
  protocols: ['yjs', 'liveblocks'],
  // The relay holds no document: a joiner has nothing to sync from it.
  relay: false,
  weftEnv: (options) => ({
    MAX_CONNECTIONS_PER_ROOM: String(Math.max(100, Math.max(...settingsOf(options).joiners) + 2)),
    // The document is sent as a burst of updates while it is built.
    MAX_MESSAGES_PER_SECOND: '1000000',
  }),
  parameters: (options) => {
    const settings = settingsOf(options);
    return { docKb: settings.docKb, joiners: settings.joiners.join(',') };
  },
  run,
  headline(results) {
    return results.map((result) => {
      const name = `cold-join · ${result.system} · ${result.protocol}`;
      const waves = (result.detail as { waves?: Wave[] } | undefined)?.waves ?? [];
      const first = waves[0];
      const last = waves[waves.length - 1];
      if (!first || !last) return `${name}: no wave completed.`;
      const fit = fitWaveCost(waves);
      return (
        `${name}: ${first.joinersPerS.toFixed(1)} joiners/s alone, ${last.joinersPerS.toFixed(1)} ` +
        `joiners/s in a wave of ${last.joiners}. Server CPU per wave ≈ ` +
        (fit
          ? `${fit.fixedMs.toFixed(1)} ms + ${fit.perJoinerMs.toFixed(1)} ms × joiners: the fixed part is ` +
            'paid once per change (encoding the document), the rest per joiner (sending it); a ' +
            'server encoding per joiner would show a fixed part near 0 and the encoding cost per joiner.'
          : 'not measured.')
      );
    });
  },
};

/**
 * Least-squares fit of server CPU per wave (ms) = fixed + perJoiner × joiners over the waves.
 * Undefined when there are fewer than two wave sizes with a CPU figure.
 */
export function fitWaveCost(
  waves: readonly Pick<Wave, 'joiners' | 'cpuMsPerJoiner'>[],
): { fixedMs: number; perJoinerMs: number } | undefined {
  const points = waves
    .filter((wave) => wave.cpuMsPerJoiner !== null)
    .map((wave) => ({ x: wave.joiners, y: wave.cpuMsPerJoiner! * wave.joiners }));
  const n = points.length;
  const meanX = points.reduce((sum, p) => sum + p.x, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.y, 0) / n;
  const sxx = points.reduce((sum, p) => sum + (p.x - meanX) ** 2, 0);
  if (n < 2 || sxx === 0) return undefined;

  const perJoinerMs = points.reduce((sum, p) => sum + (p.x - meanX) * (p.y - meanY), 0) / sxx;
  return { fixedMs: meanY - perJoinerMs * meanX, perJoinerMs };
}

function settingsOf(options: BenchOptions): ColdJoinSettings {
  return { docKb: options.docKb ?? 1024, joiners: options.joiners ?? [1, 2, 4, 8, 16, 32] };
}

/**
 * A writer builds a document of about `docKb` kB (many paragraphs inserted at random places, so
 * it has many items, like an edited document); a probe client confirms the server holds it all;
 * then waves of fresh clients join at once. Before every wave after the first the writer types
 * a word, so that a server caching the encoded document must encode it again once.
 */
async function run(context: ScenarioContext): Promise<SystemResult> {
  const { system, protocol, progress } = context;
  const settings = settingsOf(context.options);
  const roomIds = [`${system.roomPrefix}-cold`];
  const tokens = new TokenPool((node, user) => system.token(node, user), 8);
  const common = { system, protocol, roomIds, roomOf: () => 0, tokens };

  progress.phase(`${system.label} · ${protocol}: building a ${settings.docKb} kB document`);
  const [writer] = await connectFleet({ ...common, count: 1, firstClientId: 1 });
  const [probe] = await connectFleet({ ...common, count: 1, firstClientId: 2 }).catch(
    (error: unknown) => {
      closeFleet([writer!]);
      throw error;
    },
  );
  const fixed = [writer!, probe!];
  const waves: Wave[] = [];
  const syncTimes = new LatencyRecorder();
  let encodedBytes = 0;

  try {
    encodedBytes = await buildDocument(writer!, settings.docKb * 1024, context);
    await waitUntil(() => sameText(probe!, writer!), {
      timeoutMs: SEED_TIMEOUT_MS,
      what: 'the server to hold the whole document',
    });

    for (const [waveIndex, size] of settings.joiners.entries()) {
      if (waveIndex > 0) {
        typeSomething(writer!.client.doc);
        await waitUntil(() => sameText(probe!, writer!), {
          timeoutMs: 10_000,
          what: 'a small edit to reach the probe',
        });
      }
      progress.phase(
        `${system.label} · ${protocol}: wave ${waveIndex + 1} of ${settings.joiners.length}, ${size} joiners`,
      );
      waves.push(await joinWave(context, common, size, waveIndex, writer!, syncTimes));
      // Let the server finish the departures before the next wave is timed.
      await sleep(200);
    }
  } finally {
    closeFleet(fixed);
  }

  const figures: Figure[] = [
    {
      key: 'doc-kb',
      label: 'document (encoded)',
      value: round(encodedBytes / 1024, 0),
      unit: 'kB',
      digits: 0,
    },
    {
      key: 'sync-kb',
      label: 'sync message',
      value: round((waves[0]?.syncBytes ?? 0) / 1024, 0),
      unit: 'kB',
      digits: 0,
    },
  ];
  for (const wave of waves) {
    const prefix = `wave of ${wave.joiners}:`;
    figures.push(
      {
        key: `w${wave.joiners}-p50`,
        label: `${prefix} time to synced p50`,
        value: round(wave.syncP50Ms, 1),
        unit: 'ms',
        digits: 0,
      },
      {
        key: `w${wave.joiners}-max`,
        label: `${prefix} time to synced max`,
        value: round(wave.syncMaxMs, 1),
        unit: 'ms',
        digits: 0,
      },
      {
        key: `w${wave.joiners}-rate`,
        label: `${prefix} joiners/s`,
        value: round(wave.joinersPerS, 2),
        digits: 1,
      },
      {
        key: `w${wave.joiners}-cpu`,
        label: `${prefix} server CPU per joiner`,
        value: wave.cpuMsPerJoiner === null ? null : round(wave.cpuMsPerJoiner, 2),
        unit: 'ms',
        digits: 1,
      },
    );
  }
  const fit = fitWaveCost(waves);
  if (fit) {
    figures.push(
      {
        key: 'fit-fixed-ms',
        label: 'server CPU per wave, fixed part',
        value: round(fit.fixedMs, 2),
        unit: 'ms',
        digits: 1,
      },
      {
        key: 'fit-per-joiner-ms',
        label: 'server CPU per wave, per joiner',
        value: round(fit.perJoinerMs, 2),
        unit: 'ms',
        digits: 1,
      },
    );
  }
  const mismatched = waves.filter((wave) => !wave.matches);

  return {
    system: system.label,
    kind: system.kind,
    protocol,
    nodes: system.urls.length,
    runtime: system.runtime,
    figures,
    latency: { 'time to synced': syncTimes.summary() },
    curves: { 'time to synced': syncTimes.curve() },
    checks: [
      {
        name: 'every wave synced the whole document',
        passed: waves.length === settings.joiners.length && mismatched.length === 0,
        detail:
          `${waves.length} of ${settings.joiners.length} waves` +
          (mismatched.length
            ? `; first joiner's text differs in waves of ${mismatched.map((w) => w.joiners).join(', ')}`
            : ''),
      },
    ],
    samples: system.sampler.samples,
    detail: { waves },
  };
}

/** Inserts paragraphs until the encoded document reaches `targetBytes`; returns its size. */
async function buildDocument(writer: FleetMember, targetBytes: number, context: ScenarioContext) {
  const doc = writer.client.doc;
  const text = doc.getText(TEXT_NAME);
  const paragraph = 'lorem ipsum dolor sit amet '
    .repeat(Math.ceil(PARAGRAPH_CHARS / 27))
    .slice(0, PARAGRAPH_CHARS);
  let size = 0;

  // Bounded: each round adds about PARAGRAPHS_PER_UPDATE × PARAGRAPH_CHARS bytes.
  const maxRounds = Math.ceil(targetBytes / (PARAGRAPHS_PER_UPDATE * PARAGRAPH_CHARS)) * 2 + 10;
  for (let round = 0; round < maxRounds && size < targetBytes; round++) {
    doc.transact(() => {
      for (let i = 0; i < PARAGRAPHS_PER_UPDATE; i++) {
        text.insert(Math.floor(Math.random() * (text.length + 1)), paragraph);
      }
    });
    if (round % 16 === 15) {
      size = Y.encodeStateAsUpdate(doc).length;
      context.progress.update({
        fraction: size / targetBytes,
        facts: { kB: Math.round(size / 1024) },
      });
      // Give the socket a turn to flush, so the burst does not pile up in memory.
      await sleep(5);
    }
  }
  return Y.encodeStateAsUpdate(doc).length;
}

async function joinWave(
  context: ScenarioContext,
  common: Omit<Parameters<typeof connectFleet>[0], 'count'>,
  size: number,
  waveIndex: number,
  writer: FleetMember,
  syncTimes: LatencyRecorder,
): Promise<Wave> {
  const { system } = context;
  const window = await ServerWindow.open(system);
  const startedAt = performance.now();
  // Only the first joiner applies the document (to check it); the others just time their sync,
  // so that the load generator does not spend the machine decoding a megabyte per joiner.
  const joiners = await connectFleet({
    ...common,
    count: size,
    firstClientId: FIRST_JOINER_ID + waveIndex * 1_000,
    applyRemote: (index) => index === 0,
  });
  // The wave ends when the last sync answer arrived, not when the first joiner finished
  // applying the document: that is the load generator's time, not the server's.
  const waveMs = Math.max(...joiners.map((joiner) => joiner.client.syncArrivedAt)) - startedAt;
  const usage = await window.close();

  try {
    const times = new LatencyRecorder();
    for (const joiner of joiners) {
      times.record(joiner.connectMs);
      syncTimes.record(joiner.connectMs);
    }
    return {
      joiners: size,
      waveMs,
      joinersPerS: size / (waveMs / 1000),
      syncP50Ms: times.percentile(50),
      syncMaxMs: times.percentile(100),
      cpuMsPerJoiner: usage.sampled ? (usage.cpuSeconds * 1000) / size : null,
      syncBytes: joiners[0]!.client.syncBytes,
      matches: sameText(joiners[0]!, writer),
    };
  } finally {
    closeFleet(joiners);
  }
}

function sameText(a: FleetMember, b: FleetMember): boolean {
  return a.client.doc.getText(TEXT_NAME).toString() === b.client.doc.getText(TEXT_NAME).toString();
}
