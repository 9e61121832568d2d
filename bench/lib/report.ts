import fs from 'node:fs';
import path from 'node:path';

import type { Figure, SystemResult } from '../scenarios/scenario.js';
import type { MachineInfo } from './machine.js';
import { latencyChartSvg } from './svg-chart.js';

/** Everything one `npm run bench` run found, as written to the JSON result. */
export interface BenchReport {
  scenario: string;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  parameters: Record<string, unknown>;
  /** Limits raised on local nodes so that the scenario can run at all. */
  weftEnv: Record<string, string>;
  results: SystemResult[];
  /** Runs that failed before producing a result: which system and protocol, and why. */
  failures: { system: string; protocol: string; error: string }[];
  /** The figure compared between Weft and the relay, when the scenario has one. */
  headline?: { key: string; lines: string[] };
  /** Hottest functions of each node's CPU profile (`--cpu-prof`). */
  profiles?: {
    file: string;
    busySamples: number;
    top: { name: string; where: string; selfPercent: number }[];
    areas: { area: string; selfPercent: number }[];
  }[];
}

/** Paths of the files a report was written to. */
export interface WrittenReport {
  json: string;
  markdown: string;
  svg: string | undefined;
}

/** Writes the JSON result, the Markdown table and the latency chart under `outDir`. */
export function writeReport(report: BenchReport, outDir: string): WrittenReport {
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = report.startedAt.replaceAll(':', '').replace(/\.\d+Z$/, 'Z');
  const base = path.join(outDir, `${stamp}-${report.scenario}`);

  const svg = chartOf(report);
  const written: WrittenReport = {
    json: `${base}.json`,
    markdown: `${base}.md`,
    svg: svg ? `${base}.svg` : undefined,
  };
  fs.writeFileSync(written.json, `${JSON.stringify(report, null, 2)}\n`);
  if (svg) fs.writeFileSync(written.svg!, svg);
  fs.writeFileSync(
    written.markdown,
    markdownOf(report, written.svg ? path.basename(written.svg) : undefined),
  );
  return written;
}

/** The Markdown table of a report: one column per system and protocol, one row per figure. */
export function markdownOf(report: BenchReport, svgFile?: string): string {
  const { machine } = report;
  const lines = [
    `# \`${report.scenario}\` — ${report.startedAt}`,
    '',
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, ${machine.os}, Node ${machine.node}. ` +
      `Load average at start ${machine.loadAverageAtStart.join(' / ')} (1 / 5 / 15 min)` +
      (machine.loadAverageAtEnd ? `, at end ${machine.loadAverageAtEnd.join(' / ')}` : '') +
      `. Commit ${machine.commit}${machine.dirty ? ' (with uncommitted changes)' : ''}. Run took ${Math.round(report.durationS)} s.`,
    '',
    `Parameters: ${Object.entries(report.parameters)
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ')}.` +
      (Object.keys(report.weftEnv).length
        ? ` Local nodes ran with ${Object.entries(report.weftEnv)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}.`
        : ''),
    '',
  ];

  if (report.results.length > 0) {
    const columns = report.results.map((r) => `${r.system} · ${r.protocol}`);
    lines.push(
      `| figure | ${columns.join(' | ')} |`,
      `|---|${columns.map(() => '---:').join('|')}|`,
    );
    for (const { key, label } of figureRows(report.results)) {
      const cells = report.results.map((r) => formatFigure(r.figures.find((f) => f.key === key)));
      lines.push(`| ${label} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }

  if (report.headline) lines.push(...report.headline.lines.map((line) => `**${line}**`), '');

  lines.push('Checks:', '');
  for (const result of report.results) {
    for (const check of result.checks) {
      lines.push(
        `- ${check.passed ? 'pass' : '**FAIL**'} — ${result.system} · ${result.protocol}: ${check.name} (${check.detail})`,
      );
    }
  }
  for (const failure of report.failures) {
    lines.push(
      `- **FAIL** — ${failure.system} · ${failure.protocol}: did not run: ${failure.error.split('\n')[0]}`,
    );
  }
  lines.push('');

  if (report.profiles?.length) {
    lines.push('Hottest functions (self time, `--cpu-prof`):', '');
    for (const profile of report.profiles) {
      lines.push(`- ${profile.file} (${profile.busySamples} busy samples):`);
      const areas = profile.areas
        .slice(0, 10)
        .map((a) => `${a.area} ${a.selfPercent.toFixed(1)} %`);
      lines.push(`  - by package or folder: ${areas.join(', ')}`);
      for (const entry of profile.top) {
        lines.push(`  - ${entry.selfPercent.toFixed(1)} % ${entry.name} (${entry.where})`);
      }
    }
    lines.push('');
  }
  if (svgFile) lines.push(`![latency percentiles](${svgFile})`, '');
  return lines.join('\n');
}

function chartOf(report: BenchReport): string | undefined {
  const series = report.results.flatMap((result) =>
    Object.entries(result.curves).map(([name, points]) => ({
      name: `${result.system} · ${result.protocol}${name === 'all' ? '' : ` · ${name}`}`,
      points,
    })),
  );
  if (series.length === 0) return undefined;
  return latencyChartSvg(
    `${report.scenario}: end-to-end latency`,
    `${report.machine.cores} cores shared by servers and load generator; load average at start ${report.machine.loadAverageAtStart[0]} — ${report.startedAt}`,
    series,
  );
}

function figureRows(results: readonly SystemResult[]): { key: string; label: string }[] {
  const rows = new Map<string, string>();
  for (const result of results) {
    for (const figure of result.figures) {
      if (!rows.has(figure.key))
        rows.set(figure.key, figure.unit ? `${figure.label} (${figure.unit})` : figure.label);
    }
  }
  return [...rows].map(([key, label]) => ({ key, label }));
}

function formatFigure(figure: Figure | undefined): string {
  if (!figure || figure.value === null) return '—';
  if (typeof figure.value === 'boolean') return figure.value ? 'yes' : 'no';
  if (typeof figure.value === 'string') return figure.value;
  if (!Number.isFinite(figure.value)) return '—';
  return figure.value.toLocaleString('en-US', {
    minimumFractionDigits: figure.digits ?? 1,
    maximumFractionDigits: figure.digits ?? 1,
  });
}
