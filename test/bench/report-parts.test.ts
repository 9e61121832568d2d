import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { hottestFunctions } from '../../bench/lib/cpu-profile.js';
import { readProc } from '../../bench/lib/proc-sampler.js';
import { parseCommandStats } from '../../bench/lib/redis-server.js';
import { latencyChartSvg } from '../../bench/lib/svg-chart.js';
import { fitWaveCost } from '../../bench/scenarios/cold-join.js';

describe('bench measurement parts', () => {
  it('reads CPU time and RSS of a live process from /proc, and nothing of a dead one', () => {
    const reading = readProc(process.pid);

    expect(reading!.rssKb).toBeGreaterThan(1000);
    expect(reading!.cpuSeconds).toBeGreaterThan(0);
    expect(readProc(2 ** 22 + 1)).toBeUndefined();
  });

  it('parses calls per command from INFO commandstats', () => {
    const info =
      '# Commandstats\r\ncmdstat_publish:calls=12,usec=40\r\ncmdstat_evalsha:calls=3,usec=9\r\n';

    expect(parseCommandStats(info)).toEqual({ publish: 12, evalsha: 3 });
  });

  it('ranks functions of a CPU profile by self time, leaving idle out', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'weft-prof-')), 'p.cpuprofile');
    const frame = (functionName: string) => ({ functionName, url: 'file:///x.js', lineNumber: 0 });
    fs.writeFileSync(
      file,
      JSON.stringify({
        nodes: [
          { id: 1, callFrame: frame('(idle)'), hitCount: 100 },
          { id: 2, callFrame: frame('encode'), hitCount: 30 },
          { id: 3, callFrame: frame('send'), hitCount: 10 },
        ],
      }),
    );

    const { busySamples, top } = hottestFunctions(file);

    expect(busySamples).toBe(40);
    expect(top.map((entry) => entry.name)).toEqual(['encode', 'send']);
    expect(top[0]!.selfPercent).toBe(75);
  });

  it('draws one labelled line per series in a standalone SVG', () => {
    const svg = latencyChartSvg('fanout', 'a <test>', [
      {
        name: 'weft',
        points: [
          { percentile: 0, ms: 1 },
          { percentile: 99, ms: 20 },
        ],
      },
      {
        name: 'relay',
        points: [
          { percentile: 0, ms: 0.5 },
          { percentile: 99, ms: 4 },
        ],
      },
    ]);

    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('a &lt;test&gt;');
  });
});

describe('cold-join wave cost fit', () => {
  it('separates the once-per-change cost from the per-joiner cost', () => {
    // 30 ms once per wave plus 2 ms per joiner.
    const waves = [1, 2, 4, 8].map((joiners) => ({
      joiners,
      cpuMsPerJoiner: (30 + 2 * joiners) / joiners,
    }));

    const fit = fitWaveCost(waves)!;

    expect(fit.fixedMs).toBeCloseTo(30);
    expect(fit.perJoinerMs).toBeCloseTo(2);
  });

  it('has nothing to say about a single wave size', () => {
    expect(fitWaveCost([{ joiners: 4, cpuMsPerJoiner: 10 }])).toBeUndefined();
  });
});
