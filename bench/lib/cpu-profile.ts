import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './system-under-test.js';

/** One function's share of a profile's busy samples. */
export interface HotFunction {
  name: string;
  /** `file:line`, relative to the repository when inside it. */
  where: string;
  /** Percent of the samples in which the process was not idle. */
  selfPercent: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Share of busy samples per package or Weft folder. */
export interface HotArea {
  area: string;
  selfPercent: number;
}

/** Samples that are not the process's own work. */
const IDLE = new Set(['(idle)', '(program)']);

/**
 * The functions with the most self time in a V8 `.cpuprofile` (as `node --cpu-prof` writes),
 * merged by function and place, as a share of the busy samples.
 */
export function hottestFunctions(
  file: string,
  limit = 15,
): { busySamples: number; top: HotFunction[]; areas: HotArea[] } {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byFunction = new Map<string, HotFunction & { hits: number }>();
  const byArea = new Map<string, number>();
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parents.set(child, node.id);
  let busy = 0;

  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (hits === 0 || IDLE.has(functionName)) continue;

    busy += hits;
    const where = url ? `${shorten(url)}:${lineNumber + 1}` : 'native';
    const name = functionName || '(anonymous)';
    const key = `${name}@${where}`;
    const entry = byFunction.get(key) ?? { name, where, selfPercent: 0, hits: 0 };
    entry.hits += hits;
    byFunction.set(key, entry);

    const area = areaOf(node, nodes, parents);
    byArea.set(area, (byArea.get(area) ?? 0) + hits);
  }

  const top = [...byFunction.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, limit)
    .map(({ name, where, hits }) => ({ name, where, selfPercent: busy ? (hits / busy) * 100 : 0 }));
  const areas = [...byArea]
    .sort((a, b) => b[1] - a[1])
    .map(([area, hits]) => ({ area, selfPercent: busy ? (hits / busy) * 100 : 0 }));
  return { busySamples: busy, top, areas };
}

/**
 * The package (`ws`, `kysely`, …) or Weft folder (`weft realtime`, …) a sample belongs to. Native
 * code and Node's internals are charged to the nearest caller outside them, so that a `writev`
 * counts for whoever wrote to the socket.
 */
function areaOf(
  start: ProfileNode,
  nodes: ReadonlyMap<number, ProfileNode>,
  parents: ReadonlyMap<number, number>,
): string {
  if (start.callFrame.functionName === '(garbage collector)') return 'garbage collector';

  // Bounded by the profile's depth: every step goes one node up.
  for (
    let node: ProfileNode | undefined = start;
    node;
    node = nodes.get(parents.get(node.id) ?? -1)
  ) {
    const url = node.callFrame.url;
    if (!url || url.startsWith('node:')) continue;
    const file = url.startsWith('file://') ? new URL(url).pathname : url;
    const inPackage = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    if (inPackage) return inPackage[1]!;
    const inWeft = /\/(?:dist|src)\/([^/]+)\//.exec(file);
    if (inWeft) return `weft ${inWeft[1]}`;
    return path.basename(file);
  }
  return 'node internals';
}

function shorten(url: string): string {
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const relative = path.relative(REPO_ROOT, file);
  return relative.startsWith('..') ? file : relative;
}
