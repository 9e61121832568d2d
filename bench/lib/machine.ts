import { execFileSync } from 'node:child_process';
import os from 'node:os';

import { REPO_ROOT } from './system-under-test.js';

/** The machine and code a result came from. */
export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  /** 1, 5 and 15 minute load averages when the run started. */
  loadAverageAtStart: number[];
  /** The same when the run ended. */
  loadAverageAtEnd?: number[];
  commit: string;
  /** True when the work tree had changes not committed. */
  dirty: boolean;
}

/** Describes this machine and the checked-out commit. */
export function machineInfo(): MachineInfo {
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 1024 ** 3),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    commit: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    dirty: (git(['status', '--porcelain', '--untracked-files=no']) ?? '') !== '',
  };
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}
