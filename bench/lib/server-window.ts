import { diffSamples, type ProcSample } from './proc-sampler.js';
import type { SystemUnderTest } from './system-under-test.js';

/** Server cost over one measured window. */
export interface ServerUsage {
  /** Wall time of the window, in seconds. */
  wallSeconds: number;
  /** CPU seconds of every sampled server process together (nodes and Redis). */
  cpuSeconds: number;
  cpuSecondsByProcess: Record<string, number>;
  rssBeforeKb: number;
  rssAfterKb: number;
  /** Highest total RSS seen by the background sampler during the window. */
  rssPeakKb: number;
  /** Redis calls per command during the window (empty without a local Redis). */
  redisCalls: Record<string, number>;
  /** CPU seconds the load generator (this process) spent in the window. */
  generatorCpuSeconds: number;
  /** False when no server process could be sampled (an external node without --pid). */
  sampled: boolean;
}

/**
 * A measurement window over the server processes: open it when the load starts, close it when
 * the last delivery is in, and divide the CPU by what was delivered in between.
 */
export class ServerWindow {
  private constructor(
    private readonly system: SystemUnderTest,
    private readonly before: ProcSample,
    private readonly redisBefore: Record<string, number>,
    private readonly generatorBefore: NodeJS.CpuUsage,
    private readonly startedAt: number,
  ) {}

  static async open(system: SystemUnderTest): Promise<ServerWindow> {
    const redisBefore = (await system.redis?.commandCalls()) ?? {};
    return new ServerWindow(
      system,
      system.sampler.read(),
      redisBefore,
      process.cpuUsage(),
      performance.now(),
    );
  }

  /** The window's wall time so far, in seconds. */
  elapsedSeconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  async close(): Promise<ServerUsage> {
    const after = this.system.sampler.read();
    const generator = process.cpuUsage(this.generatorBefore);
    const redisAfter = (await this.system.redis?.commandCalls()) ?? {};
    const diff = diffSamples(this.before, after);

    const redisCalls: Record<string, number> = {};
    for (const [command, calls] of Object.entries(redisAfter)) {
      const delta = calls - (this.redisBefore[command] ?? 0);
      // INFO is the bench's own question, not the servers' traffic.
      if (delta > 0 && command !== 'info') redisCalls[command] = delta;
    }

    return {
      wallSeconds: this.elapsedSeconds(),
      cpuSeconds: diff.cpuSeconds,
      cpuSecondsByProcess: diff.cpuSecondsByLabel,
      rssBeforeKb: this.before.total.rssKb,
      rssAfterKb: after.total.rssKb,
      rssPeakKb: Math.max(
        after.total.rssKb,
        this.system.sampler.peakRssKb(this.before.atMs, after.atMs),
      ),
      redisCalls,
      generatorCpuSeconds: (generator.user + generator.system) / 1e6,
      sampled: Object.keys(this.before.byLabel).length > 0,
    };
  }
}
