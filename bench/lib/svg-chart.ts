import type { PercentilePoint } from './latency.js';

/** One line of the chart. */
export interface ChartSeries {
  name: string;
  points: readonly PercentilePoint[];
}

const WIDTH = 860;
const HEIGHT = 460;
const MARGIN = { top: 48, right: 24, bottom: 56, left: 72 };
/** Lowest latency the log axis shows, in milliseconds. */
const MIN_MS = 0.1;
/** Highest percentile drawn: the x axis is in "nines", and 100 % has none. */
const TOP_PERCENTILE = 99.9;
const X_TICKS = [0, 50, 90, 99, 99.9];
const COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
];

/**
 * A latency percentile chart as a standalone SVG document: latency (ms) up, percentile along
 * the x axis in "nines" (50 %, 90 %, 99 %, 99.9 % equally spaced), so that the tail, where
 * servers differ, gets as much room as the median.
 */
export function latencyChartSvg(
  title: string,
  subtitle: string,
  series: readonly ChartSeries[],
): string {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const drawn = series
    .map((s) => ({
      ...s,
      points: s.points.filter((p) => p.percentile <= TOP_PERCENTILE && Number.isFinite(p.ms)),
    }))
    .filter((s) => s.points.length > 0);
  const all = drawn.flatMap((s) => s.points.map((p) => p.ms));
  const yMin = decadeFloor(Math.max(MIN_MS, Math.min(...all, 1)));
  const yMax = decadeCeiling(Math.max(1, ...all));

  const x = (percentile: number) =>
    MARGIN.left + (nines(percentile) / nines(TOP_PERCENTILE)) * plotWidth;
  // Latency spans decades (a fraction of a millisecond to seconds): a log axis shows them all.
  const y = (ms: number) =>
    MARGIN.top +
    plotHeight -
    ((Math.log10(Math.max(ms, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) *
      plotHeight;

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="20" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="${MARGIN.left}" y="37" fill="#555">${escape(subtitle)}</text>`,
  ];

  for (const tick of logTicks(yMin, yMax)) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${y(tick) + 4}" text-anchor="end">${formatMs(tick)}</text>`,
    );
  }
  for (const tick of X_TICKS) {
    parts.push(
      `<line x1="${x(tick)}" x2="${x(tick)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotHeight}" stroke="#e5e5e5"/>`,
      `<text x="${x(tick)}" y="${MARGIN.top + plotHeight + 18}" text-anchor="middle">${tick}%</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`,
    `<text x="${MARGIN.left + plotWidth / 2}" y="${HEIGHT - 12}" text-anchor="middle">percentile of deliveries</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">latency (ms, log scale)</text>`,
  );

  drawn.forEach((s, index) => {
    const colour = COLOURS[index % COLOURS.length]!;
    const path = s.points
      .map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.percentile).toFixed(1)},${y(p.ms).toFixed(1)}`)
      .join(' ');
    const legendY = MARGIN.top + 16 + index * 18;
    parts.push(
      `<path d="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`,
      `<line x1="${MARGIN.left + 12}" x2="${MARGIN.left + 36}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${MARGIN.left + 42}" y="${legendY}">${escape(s.name)}</text>`,
    );
  });
  if (drawn.length === 0) {
    parts.push(
      `<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight / 2}" text-anchor="middle">no latency samples</text>`,
    );
  }

  parts.push('</svg>', '');
  return parts.join('\n');
}

/** Position on the "nines" axis: 90 % → 1, 99 % → 2, 99.9 % → 3. */
function nines(percentile: number): number {
  return -Math.log10(1 - Math.min(percentile, TOP_PERCENTILE) / 100);
}

function decadeFloor(value: number): number {
  return 10 ** Math.floor(Math.log10(value));
}

function decadeCeiling(value: number): number {
  return 10 ** Math.ceil(Math.log10(value));
}

/** 1, 2 and 5 times each power of ten between the bounds. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let decade = min; decade <= max * 1.0001; decade *= 10) {
    for (const step of [1, 2, 5]) {
      const tick = decade * step;
      if (tick >= min * 0.9999 && tick <= max * 1.0001) ticks.push(tick);
    }
  }
  return ticks;
}

function formatMs(ms: number): string {
  return ms >= 1 ? String(Math.round(ms)) : String(Number(ms.toPrecision(1)));
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
