import type { Protocol } from '../clients/yjs-socket-client.js';
import type { LatencySummary, PercentilePoint } from '../lib/latency.js';
import type { BenchOptions } from '../lib/options.js';
import type { ProcSample } from '../lib/proc-sampler.js';
import type { Progress } from '../lib/progress.js';
import type { SystemUnderTest } from '../lib/system-under-test.js';

/** One number (or fact) of a result: a row of the Markdown table. */
export interface Figure {
  key: string;
  label: string;
  value: number | string | boolean | null;
  unit?: string;
  /** Decimals shown in the table. @default 1 */
  digits?: number;
}

/** A pass/fail check of a run; a failed check fails the bench. */
export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

/** What one scenario measured on one system over one protocol. */
export interface SystemResult {
  system: string;
  kind: SystemUnderTest['kind'];
  protocol: Protocol;
  nodes: number;
  runtime: string;
  figures: Figure[];
  /** Latency distributions by series name (`all`, `same node`, `cross node`, …). */
  latency: Record<string, LatencySummary>;
  /** Percentile curves by series name, for the chart. */
  curves: Record<string, PercentilePoint[]>;
  checks: Check[];
  /** Server process samples over the run (CPU seconds and RSS), for the JSON result. */
  samples: ProcSample[];
  /** Scenario-specific detail for the JSON result (waves of cold-join, …). */
  detail?: unknown;
}

/** What a scenario gets to run on one system. */
export interface ScenarioContext {
  system: SystemUnderTest;
  protocol: Protocol;
  options: BenchOptions;
  progress: Progress;
}

/** A named load scenario. */
export interface Scenario {
  name: string;
  /** One line for `--help`. */
  summary: string;
  /** Protocols the scenario can run over. */
  protocols: readonly Protocol[];
  /** Whether the byte relay can serve it (it has no document and no Storage). */
  relay: boolean;
  /** Environment for local Weft nodes: limits the scenario must raise to run at all. */
  weftEnv(options: BenchOptions): Record<string, string>;
  /** The parameters it will run with, for the report. */
  parameters(options: BenchOptions): Record<string, unknown>;
  run(context: ScenarioContext): Promise<SystemResult>;
  /** Sentences comparing Weft with the relay and the targets, once every run is in. */
  headline?(results: readonly SystemResult[]): string[];
}

/** The numeric value of a figure, or undefined when absent or not a number. */
export function figureValue(result: SystemResult | undefined, key: string): number | undefined {
  const value = result?.figures.find((figure) => figure.key === key)?.value;
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Rounds for the JSON result without losing what matters. */
export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
