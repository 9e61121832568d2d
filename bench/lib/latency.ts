/** Samples kept per recorder; past this, new samples replace random old ones (reservoir). */
const MAX_SAMPLES = 2_000_000;

/** Percentiles of a latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** One point of a percentile curve: the latency (ms) that `percentile` % of samples stay under. */
export interface PercentilePoint {
  percentile: number;
  ms: number;
}

/** Percentiles plotted in the chart: dense near the tail, where the differences show. */
const CURVE_PERCENTILES = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92, 94, 95, 96, 97, 98, 98.5, 99, 99.3, 99.5, 99.7,
  99.8, 99.9, 100,
];

/**
 * Collects latency samples (milliseconds) and summarises them exactly. Memory is bounded: past
 * {@link MAX_SAMPLES} it keeps a uniform random sample of everything recorded.
 */
export class LatencyRecorder {
  private samples = new Float64Array(1024);
  private size = 0;
  private seen = 0;
  private sorted: Float64Array | undefined;

  /** Samples recorded so far, including those the reservoir dropped. */
  get count(): number {
    return this.seen;
  }

  record(ms: number): void {
    this.seen++;
    this.sorted = undefined;
    if (this.size < MAX_SAMPLES) {
      if (this.size === this.samples.length) {
        const grown = new Float64Array(Math.min(this.samples.length * 2, MAX_SAMPLES));
        grown.set(this.samples);
        this.samples = grown;
      }
      this.samples[this.size++] = ms;
      return;
    }
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < MAX_SAMPLES) this.samples[slot] = ms;
  }

  /** Adds every sample of another recorder. */
  addAll(other: LatencyRecorder): void {
    for (let index = 0; index < other.size; index++) this.record(other.samples[index]!);
  }

  /** The latency under which `percentile` % (0–100) of the samples fall; NaN when empty. */
  percentile(percentile: number): number {
    const sorted = this.sortedSamples();
    if (sorted.length === 0) return Number.NaN;
    const rank = Math.ceil((percentile / 100) * sorted.length) - 1;
    return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
  }

  summary(): LatencySummary {
    const sorted = this.sortedSamples();
    let sum = 0;
    for (const value of sorted) sum += value;
    return {
      count: this.seen,
      mean: sorted.length ? sum / sorted.length : Number.NaN,
      min: sorted.length ? sorted[0]! : Number.NaN,
      p50: this.percentile(50),
      p95: this.percentile(95),
      p99: this.percentile(99),
      max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    };
  }

  /** The percentile curve drawn in the latency chart. */
  curve(): PercentilePoint[] {
    if (this.size === 0) return [];
    return CURVE_PERCENTILES.map((percentile) => ({ percentile, ms: this.percentile(percentile) }));
  }

  private sortedSamples(): Float64Array {
    this.sorted ??= this.samples.slice(0, this.size).sort();
    return this.sorted;
  }
}
