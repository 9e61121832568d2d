import type { DeliveryTracker } from '../clients/delivery-tracker.js';
import type { ServerUsage } from '../lib/server-window.js';
import type { SystemUnderTest } from '../lib/system-under-test.js';
import { figureValue, round, type Figure, type SystemResult } from './scenario.js';

/** Latency figures and curves of a tracker: all deliveries, and same/cross node on a cluster. */
export function latencyOf(
  tracker: Pick<DeliveryTracker, 'all' | 'sameNode' | 'crossNode'>,
  nodes: number,
): Pick<SystemResult, 'latency' | 'curves'> & { figures: Figure[] } {
  const series =
    nodes > 1
      ? { all: tracker.all, 'same node': tracker.sameNode, 'cross node': tracker.crossNode }
      : { all: tracker.all };
  const latency: SystemResult['latency'] = {};
  const curves: SystemResult['curves'] = {};
  const figures: Figure[] = [];

  for (const [name, recorder] of Object.entries(series)) {
    const summary = recorder.summary();
    latency[name] = summary;
    curves[name] = recorder.curve();
    const prefix = name === 'all' ? 'latency' : `latency ${name}`;
    const key = name.replace(' ', '-');
    for (const p of ['p50', 'p95', 'p99'] as const) {
      figures.push({
        key: `${key}-${p}`,
        label: `${prefix} ${p}`,
        value: round(summary[p]),
        unit: 'ms',
        digits: 2,
      });
    }
    if (name === 'all') {
      figures.push({
        key: `${key}-max`,
        label: `${prefix} max`,
        value: round(summary.max),
        unit: 'ms',
        digits: 1,
      });
    }
  }
  return { latency, curves, figures };
}

/**
 * The server-cost figures: CPU per delivered update (the headline), CPU load, memory, and on a
 * cluster each process's share and the Redis calls per sent update.
 */
export function serverFigures(
  usage: ServerUsage,
  system: SystemUnderTest,
  delivered: number,
  sent: number,
): Figure[] {
  if (!usage.sampled) {
    return [
      {
        key: 'server-cpu-us-per-delivered',
        label: 'server CPU per delivered update',
        value: 'not sampled (external, no --pid)',
      },
      generatorFigure(usage),
    ];
  }

  const perDelivered = delivered > 0 ? (usage.cpuSeconds * 1e6) / delivered : null;
  const figures: Figure[] = [
    {
      key: 'server-cpu-us-per-delivered',
      label: 'server CPU per delivered update',
      value: perDelivered === null ? null : round(perDelivered, 2),
      unit: 'µs',
      digits: 1,
    },
    {
      key: 'server-cpu-percent',
      label: 'server CPU (of one core)',
      value: round((usage.cpuSeconds / usage.wallSeconds) * 100, 1),
      unit: '%',
      digits: 0,
    },
    {
      key: 'server-rss-peak-mb',
      label: 'server RSS peak',
      value: round(usage.rssPeakKb / 1024, 1),
      unit: 'MB',
      digits: 1,
    },
  ];

  const processes = Object.keys(usage.cpuSecondsByProcess);
  if (processes.length > 1 && delivered > 0) {
    for (const label of processes) {
      figures.push({
        key: `cpu-us-per-delivered-${label}`,
        label: `  of which ${label}`,
        value: round((usage.cpuSecondsByProcess[label]! * 1e6) / delivered, 2),
        unit: 'µs',
        digits: 1,
      });
    }
  }
  if (system.redis && sent > 0) {
    // Background traffic (heartbeats, leases) shows as small fractions; per-update work as ≥ 1.
    const calls = Object.entries(usage.redisCalls)
      .filter(([, count]) => count / sent >= 0.05)
      .sort((a, b) => b[1] - a[1]);
    for (const [command, count] of calls) {
      figures.push({
        key: `redis-${command}-per-sent`,
        label: `redis ${command} per sent update`,
        value: round(count / sent, 3),
        digits: 2,
      });
    }
  }
  figures.push(generatorFigure(usage));
  return figures;
}

function generatorFigure(usage: ServerUsage): Figure {
  return {
    key: 'generator-cpu-percent',
    label: 'load generator CPU (of one core)',
    value: round((usage.generatorCpuSeconds / usage.wallSeconds) * 100, 1),
    unit: '%',
    digits: 0,
  };
}

/**
 * Weft's server CPU per delivered update against the relay's, per protocol, with the issue's
 * target for fan-out (≤ 1.25× the relay); for a cluster also against one node's (≤ 2×), its
 * cross-node p99 against its same-node p99 (≤ 2×) and its Redis publishes per update (1).
 */
export function cpuHeadline(results: readonly SystemResult[], scenario: string): string[] {
  const lines: string[] = [];
  for (const weft of results.filter((r) => r.kind === 'weft')) {
    const name = `${scenario} · ${weft.system} · ${weft.protocol}`;
    const weftUs = figureValue(weft, 'server-cpu-us-per-delivered');
    if (weftUs === undefined) continue;

    if (weft.nodes > 1) {
      const single = results.find(
        (r) => r.kind === 'weft' && r.nodes === 1 && r.protocol === weft.protocol,
      );
      const singleUs = figureValue(single, 'server-cpu-us-per-delivered');
      if (singleUs !== undefined) {
        lines.push(
          `${name}: ${weftUs.toFixed(1)} µs per delivered update (nodes + Redis), ${verdict(weftUs / singleUs, 2, `one node's ${singleUs.toFixed(1)} µs`)}.`,
        );
      }
      const cross = weft.latency['cross node']?.p99;
      const same = weft.latency['same node']?.p99;
      if (cross !== undefined && same !== undefined && same > 0) {
        lines.push(
          `${name}: cross-node p99 ${cross.toFixed(1)} ms, ${verdict(cross / same, 2, `the same-node p99 of ${same.toFixed(1)} ms`)}.`,
        );
      }
      const publishes =
        figureValue(weft, 'redis-publish-per-sent') ?? figureValue(weft, 'redis-spublish-per-sent');
      if (publishes !== undefined) {
        lines.push(
          `${name}: ${publishes.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} Redis publishes per sent update (target 1).`,
        );
      }
      continue;
    }

    const relay = results.find((r) => r.kind === 'relay' && r.protocol === weft.protocol);
    const relayUs = figureValue(relay, 'server-cpu-us-per-delivered');
    lines.push(
      relayUs === undefined
        ? `${name}: ${weftUs.toFixed(1)} µs server CPU per delivered update (no relay figure to compare).`
        : `${name}: ${weftUs.toFixed(1)} µs server CPU per delivered update, ${verdict(weftUs / relayUs, 1.25, `the relay's ${relayUs.toFixed(1)} µs`)}.`,
    );
  }
  return lines;
}

/** `1.40× the relay's 11.0 µs (target ≤ 1.25×: missed by 12 %)`. */
function verdict(ratio: number, target: number, reference: string): string {
  const outcome =
    ratio <= target ? 'met' : `missed by ${((ratio / target - 1) * 100).toFixed(0)} %`;
  return `${ratio.toFixed(2)}× ${reference} (target ≤ ${target}×: ${outcome})`;
}
