/**
 * `npm run bench -- <scenario> [options]`: load scenarios against Weft (started here as child
 * processes, or running at `--url`) and the reference relay, in one run, with the servers' CPU
 * and memory sampled from /proc. Writes a JSON result, a Markdown table and a latency chart under
 * bench/results/. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Protocol } from './clients/yjs-socket-client.js';
import { killAllChildren } from './lib/child-server.js';
import { hottestFunctions } from './lib/cpu-profile.js';
import { machineInfo } from './lib/machine.js';
import { helpText, parseOptions, UsageError, type BenchOptions } from './lib/options.js';
import { Progress } from './lib/progress.js';
import { writeReport, markdownOf, type BenchReport } from './lib/report.js';
import {
  distIsCurrent,
  externalWeft,
  makeWorkDir,
  REPO_ROOT,
  startRelay,
  startWeft,
  type SystemKind,
  type SystemUnderTest,
} from './lib/system-under-test.js';
import { coldJoin } from './scenarios/cold-join.js';
import { connections } from './scenarios/connections.js';
import { fanout } from './scenarios/fanout.js';
import { hotRoom } from './scenarios/hot-room.js';
import type { Scenario, SystemResult } from './scenarios/scenario.js';
import { storage } from './scenarios/storage.js';

const SCENARIOS: readonly Scenario[] = [fanout, hotRoom, connections, coldJoin, storage];
/**
 * Errors thrown from client event handlers (the SDK throws from its socket handler when the
 * server rejects Storage ops). They fail the run they happen in instead of killing the bench
 * with its servers still to stop.
 */
const uncaughtErrors: string[] = [];
/** Exit codes: a check failed or a run broke; bad command line; the run hit --max-time. */
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_TIMED_OUT = 3;

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.help || options.scenario === undefined) {
    process.stdout.write(helpText(SCENARIOS));
    return options.help ? 0 : EXIT_USAGE;
  }
  const scenario = SCENARIOS.find((s) => s.name === options.scenario);
  if (!scenario) throw new UsageError(`unknown scenario ${options.scenario}; see --help`);
  if (options.urls.length > 0 && !options.secret) {
    throw new UsageError("--url needs --secret: tokens are minted through the node's REST API");
  }
  const protocols = (options.protocols ?? scenario.protocols).filter((p) =>
    scenario.protocols.includes(p),
  );
  if (protocols.length === 0) {
    throw new UsageError(`${scenario.name} runs over ${scenario.protocols.join(' or ')} only`);
  }

  const startedAt = new Date();
  const machine = machineInfo();
  const progress = new Progress(process.stderr, options.plain);
  const watchdog = setTimeout(() => {
    progress.note(`--max-time of ${options.maxTimeS} s reached: stopping every server and exiting`);
    killAllChildren();
    process.exit(EXIT_TIMED_OUT);
  }, options.maxTimeS * 1000);
  process.on('uncaughtException', (error) => uncaughtErrors.push(error.message));
  process.once('SIGINT', () => {
    killAllChildren();
    process.exit(130);
  });

  const runtime = resolveRuntime(options, progress);
  const secret = options.secret ?? `sk_bench_${randomBytes(12).toString('hex')}`;
  const workDir = makeWorkDir();
  const stamp = startedAt
    .toISOString()
    .replaceAll(':', '')
    .replace(/\.\d+Z$/, 'Z');
  const profileDir = options.cpuProf ? path.join(options.outDir, 'profiles', stamp) : undefined;
  const weftEnv = scenario.weftEnv(options);
  const report: BenchReport = {
    scenario: scenario.name,
    startedAt: startedAt.toISOString(),
    durationS: 0,
    machine,
    parameters: {
      ...scenario.parameters(options),
      nodes: options.urls.length || options.nodes,
      ...(options.redis ? { redis: true } : {}),
    },
    weftEnv: options.urls.length ? {} : weftEnv,
    results: [],
    failures: [],
  };
  progress.note(
    `${scenario.name}: load average ${machine.loadAverageAtStart.join(' ')} on ${machine.cores} cores; ` +
      `weft runs from ${options.urls.length ? 'external URLs' : runtime}`,
  );

  try {
    for (const protocol of protocols) {
      for (const { kind, nodes } of planRuns(scenario, options)) {
        const result = await runOne(scenario, kind, nodes, protocol, {
          options,
          progress,
          runtime,
          secret,
          workDir,
          weftEnv,
          profileDir,
        }).catch((error: unknown) => {
          const message = error instanceof Error ? error.message : String(error);
          report.failures.push({ system: kind, protocol, error: message });
          progress.note(`${kind} · ${protocol} failed: ${message}`);
          return undefined;
        });
        if (result) report.results.push(result);
      }
    }
  } finally {
    clearTimeout(watchdog);
    progress.done();
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  const headline = scenario.headline?.(report.results) ?? [];
  if (headline.length) report.headline = { key: scenario.name, lines: headline };
  if (profileDir && fs.existsSync(profileDir)) {
    report.profiles = fs
      .readdirSync(profileDir, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.cpuprofile'))
      .map((file) => path.join(profileDir, file))
      .map((file) => ({ file: path.relative(REPO_ROOT, file), ...hottestFunctions(file) }))
      // The main thread first; a loader thread that only ran at start-up says little.
      .sort((a, b) => b.busySamples - a.busySamples);
  }
  report.machine.loadAverageAtEnd = os.loadavg().map((value) => Math.round(value * 100) / 100);
  report.durationS = (Date.now() - startedAt.getTime()) / 1000;

  const written = writeReport(report, options.outDir);
  process.stdout.write(`${markdownOf(report)}\n`);
  process.stdout.write(
    `Wrote ${[written.json, written.markdown, written.svg]
      .filter(Boolean)
      .map((p) => path.relative(process.cwd(), p!))
      .join(', ')}\n`,
  );

  const failedChecks = report.results.flatMap((r) => r.checks).filter((check) => !check.passed);
  return report.failures.length > 0 || failedChecks.length > 0 ? EXIT_FAILED : 0;
}

interface RunSettings {
  options: BenchOptions;
  progress: Progress;
  runtime: 'dist' | 'src';
  secret: string;
  workDir: string;
  weftEnv: Record<string, string>;
  profileDir: string | undefined;
}

/**
 * What one protocol's runs measure, in order: the relay (when the scenario can use it), and
 * Weft. A local cluster is preceded by a single node, so that the cluster's cost per update is
 * compared with one node's in the same run (`--no-single` skips it).
 */
function planRuns(
  scenario: Scenario,
  options: BenchOptions,
): { kind: SystemKind; nodes: number }[] {
  const runs: { kind: SystemKind; nodes: number }[] = [];
  if (scenario.relay && options.relay) runs.push({ kind: 'relay', nodes: 1 });
  if (options.urls.length > 0) return [...runs, { kind: 'weft', nodes: options.urls.length }];
  if (options.nodes > 1 && options.single) runs.push({ kind: 'weft', nodes: 1 });
  return [...runs, { kind: 'weft', nodes: options.nodes }];
}

/** Starts a fresh system (so that memory figures start clean), runs the scenario, stops it. */
async function runOne(
  scenario: Scenario,
  kind: SystemKind,
  nodes: number,
  protocol: Protocol,
  settings: RunSettings,
): Promise<SystemResult> {
  const { options, progress } = settings;
  progress.phase(`${kind} · ${protocol}: starting`);
  const system = await startSystem(kind, nodes, protocol, settings);

  const errorsBefore = uncaughtErrors.length;
  try {
    if (system.urls.length > 1) await checkNodesShareRooms(system);
    const result = await scenario.run({ system, protocol, options, progress });
    const errors = uncaughtErrors.slice(errorsBefore);
    if (errors.length > 0) {
      result.checks.push({
        name: 'no errors thrown in clients',
        passed: false,
        detail: `${errors.length}, first: ${errors[0]}`,
      });
    }
    return result;
  } finally {
    progress.phase(`${system.label} · ${protocol}: stopping`);
    await system.stop();
  }
}

async function startSystem(
  kind: SystemKind,
  nodes: number,
  protocol: Protocol,
  settings: RunSettings,
): Promise<SystemUnderTest> {
  const { options } = settings;
  if (kind === 'relay') return startRelay();
  if (options.urls.length > 0) return externalWeft(options.urls, settings.secret, options.pids);

  const workDir = fs.mkdtempSync(path.join(settings.workDir, 'weft-'));
  const profileDir =
    settings.profileDir && path.join(settings.profileDir, `${protocol}-${nodes}-node`);
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  return startWeft({
    nodes,
    redis: nodes > 1 && options.redis,
    database: options.database ?? 'postgres',
    runtime: settings.runtime,
    secret: settings.secret,
    logLevel: options.logLevel,
    env: settings.weftEnv,
    cpuProfileDir: profileDir,
    workDir,
  });
}

/**
 * Before loading a cluster, one update from a client on node 0 must reach a client on node 1.
 * Nodes that ignore REDIS_URL (no cluster support yet) start fine but share nothing, and every
 * figure after that would be meaningless.
 */
async function checkNodesShareRooms(system: SystemUnderTest): Promise<void> {
  const { probeCrossNode } = await import('./scenarios/cross-node-probe.js');
  const problem = await probeCrossNode(system);
  if (problem) throw new Error(problem);
}

/**
 * `auto` prefers a current dist/ and builds it when src/ is newer, so that the node's process
 * holds no compiler (tsx runs a loader thread whose CPU /proc counts with the node's); when the
 * build fails (work in progress elsewhere in src/), it falls back to tsx and says so.
 */
function resolveRuntime(options: BenchOptions, progress: Progress): 'dist' | 'src' {
  if (options.urls.length > 0) return 'dist';
  if (options.server === 'dist' || options.server === 'src') return options.server;
  if (options.server === 'auto' && distIsCurrent()) return 'dist';

  progress.note('npm run build (dist/ is older than src/)');
  try {
    execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    return 'dist';
  } catch (error) {
    if (options.server === 'build') throw error;
    progress.note('the build failed: local nodes run from src/ through tsx instead');
    return 'src';
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    killAllChildren();
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(EXIT_FAILED);
  },
);
