import { describe, expect, it } from 'vitest';

import { LatencyRecorder } from '../../bench/lib/latency.js';

describe('LatencyRecorder', () => {
  it('gives nearest-rank percentiles of the samples', () => {
    const recorder = new LatencyRecorder();
    for (let ms = 1; ms <= 100; ms++) recorder.record(ms);

    expect(recorder.percentile(50)).toBe(50);
    expect(recorder.percentile(99)).toBe(99);
    expect(recorder.summary()).toMatchObject({ count: 100, min: 1, max: 100, p95: 95, mean: 50.5 });
  });

  it('summarises an empty recorder as NaN rather than zero', () => {
    const summary = new LatencyRecorder().summary();

    expect(summary.count).toBe(0);
    expect(summary.p50).toBeNaN();
  });

  it('sorts numerically, not as text', () => {
    const recorder = new LatencyRecorder();
    for (const ms of [10, 9, 100, 2]) recorder.record(ms);

    expect(recorder.percentile(100)).toBe(100);
    expect(recorder.percentile(25)).toBe(2);
  });

  it('draws a rising percentile curve that ends at the maximum', () => {
    const recorder = new LatencyRecorder();
    for (let ms = 0; ms < 1000; ms++) recorder.record(ms / 10);
    const curve = recorder.curve();

    expect(curve.at(-1)).toEqual({ percentile: 100, ms: 99.9 });
    for (let i = 1; i < curve.length; i++)
      expect(curve[i]!.ms).toBeGreaterThanOrEqual(curve[i - 1]!.ms);
  });
});
