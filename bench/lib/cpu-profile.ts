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
}

/** Samples that are not the process's own work. */
const IDLE = new Set(['(idle)', '(program)']);

/**
 * The functions with the most self time in a V8 `.cpuprofile` (as `node --cpu-prof` writes),
 * merged by function and place, as a share of the busy samples.
 */
export function hottestFunctions(file: string, limit = 15): HotFunction[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byFunction = new Map<string, HotFunction & { hits: number }>();
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
  }

  return [...byFunction.values()]
    .sort((a, b) => b.hits - a.hits)
    .slice(0, limit)
    .map(({ name, where, hits }) => ({ name, where, selfPercent: busy ? (hits / busy) * 100 : 0 }));
}

function shorten(url: string): string {
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const relative = path.relative(REPO_ROOT, file);
  return relative.startsWith('..') ? file : relative;
}
