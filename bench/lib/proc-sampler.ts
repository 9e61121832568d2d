import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** One reading of a process from /proc. */
export interface ProcReading {
  /** User + system CPU time since the process started, in seconds. */
  cpuSeconds: number;
  /** Resident set size, in kB (VmRSS). */
  rssKb: number;
}

/** A reading of the processes a sampler watches, at one moment. */
export interface ProcSample {
  /** Milliseconds since the sampler started. */
  atMs: number;
  /** Sum over every watched process. */
  total: ProcReading;
  /** Per process, by label. */
  byLabel: Record<string, ProcReading>;
}

/** A process to watch: a label for the report and its pid. */
export interface WatchedProcess {
  label: string;
  pid: number;
}

/** Interval between background samples, in milliseconds. */
const SAMPLE_INTERVAL_MS = 500;
/** Samples kept in memory: enough for an hour at the interval above. */
const MAX_SAMPLES = 7_200;

let clockTicksPerSecond: number | undefined;

/**
 * Reads one process's CPU time and RSS from /proc (Linux only). Returns undefined when the
 * process is gone.
 */
export function readProc(pid: number): ProcReading | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');

    // The command name in field 2 may contain spaces and parentheses: count fields after the
    // last ")". utime and stime are fields 14 and 15 of the file, 12th and 13th after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rss = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);

    return { cpuSeconds: ticks / ticksPerSecond(), rssKb: rss ? Number(rss[1]) : 0 };
  } catch {
    return undefined;
  }
}

/**
 * Samples the CPU time and memory of server processes (Weft nodes, the relay, Redis) in the
 * background, and on demand at the edges of a measurement.
 */
export class ProcSampler {
  readonly samples: ProcSample[] = [];
  private readonly startedAt = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly processes: readonly WatchedProcess[]) {}

  /** Starts background sampling; call {@link stop} to end it. */
  start(): void {
    this.timer ??= setInterval(() => {
      if (this.samples.length < MAX_SAMPLES) this.samples.push(this.read());
    }, SAMPLE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads every watched process now. A process that is gone counts as zero. */
  read(): ProcSample {
    const byLabel: Record<string, ProcReading> = {};
    const total: ProcReading = { cpuSeconds: 0, rssKb: 0 };
    for (const { label, pid } of this.processes) {
      const reading = readProc(pid) ?? { cpuSeconds: 0, rssKb: 0 };
      byLabel[label] = reading;
      total.cpuSeconds += reading.cpuSeconds;
      total.rssKb += reading.rssKb;
    }
    return { atMs: performance.now() - this.startedAt, total, byLabel };
  }

  /** Highest total RSS seen between two moments (inclusive), in kB. */
  peakRssKb(fromMs = 0, toMs = Number.POSITIVE_INFINITY): number {
    let peak = 0;
    for (const sample of this.samples) {
      if (sample.atMs >= fromMs && sample.atMs <= toMs) peak = Math.max(peak, sample.total.rssKb);
    }
    return peak;
  }
}

/** Difference of two samples: CPU seconds spent and RSS change, in total and per process. */
export function diffSamples(
  before: ProcSample,
  after: ProcSample,
): { cpuSeconds: number; rssDeltaKb: number; cpuSecondsByLabel: Record<string, number> } {
  const cpuSecondsByLabel: Record<string, number> = {};
  for (const label of Object.keys(after.byLabel)) {
    cpuSecondsByLabel[label] =
      after.byLabel[label]!.cpuSeconds - (before.byLabel[label]?.cpuSeconds ?? 0);
  }
  return {
    cpuSeconds: after.total.cpuSeconds - before.total.cpuSeconds,
    rssDeltaKb: after.total.rssKb - before.total.rssKb,
    cpuSecondsByLabel,
  };
}

function ticksPerSecond(): number {
  if (clockTicksPerSecond === undefined) {
    try {
      clockTicksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
    } catch {
      clockTicksPerSecond = Number.NaN;
    }
    // Linux has used 100 ticks per second on every common architecture for decades.
    if (!Number.isFinite(clockTicksPerSecond) || clockTicksPerSecond <= 0)
      clockTicksPerSecond = 100;
  }
  return clockTicksPerSecond;
}
