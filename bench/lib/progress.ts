/** Time between two plain progress lines when the output is not a terminal, in milliseconds. */
const PLAIN_INTERVAL_MS = 5_000;
/** Time between two redraws of the progress bar, in milliseconds. */
const BAR_INTERVAL_MS = 200;
/** Width of the bar itself, in characters. */
const BAR_WIDTH = 24;

/** What the progress display shows about the running phase. */
export interface ProgressState {
  /** 0–1 when the phase has a known end, undefined otherwise. */
  fraction?: number;
  /** Short facts, e.g. `{ sent: 1200, p50: '3.1 ms' }`. */
  facts?: Record<string, string | number>;
}

/**
 * Progress of a run: a redrawn bar on a terminal, plain timestamped lines otherwise (CI, pipes),
 * so that logs stay readable. Writes to stderr, keeping stdout for the results.
 */
export class Progress {
  private readonly tty: boolean;
  private readonly startedAt = performance.now();
  private title = '';
  private phaseStartedAt = performance.now();
  private state: ProgressState | (() => ProgressState) = {};
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    forcePlain = false,
  ) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI && !forcePlain;
  }

  /** Starts a new phase: prints its title and begins redrawing or periodic lines. */
  phase(title: string, state: ProgressState = {}): void {
    this.clearBar();
    this.title = title;
    this.state = state;
    this.phaseStartedAt = performance.now();
    this.line(title);
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), this.tty ? BAR_INTERVAL_MS : PLAIN_INTERVAL_MS);
    this.timer.unref();
  }

  /**
   * Updates what the current phase shows. A function is only called when the display is drawn,
   * so costly facts (percentiles) are not computed more often than shown.
   */
  update(state: ProgressState | (() => ProgressState)): void {
    this.state = state;
  }

  /** A message between phases (always printed as a line). */
  note(message: string): void {
    this.clearBar();
    this.line(message);
  }

  /** Ends the display. */
  done(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.clearBar();
  }

  private tick() {
    if (this.tty) {
      this.stream.write(`\r\x1b[K${this.render(true)}`);
      this.drawn = true;
    } else {
      const text = this.render(false);
      if (text !== '') this.line(`  ${text}`);
    }
  }

  private render(withBar: boolean): string {
    const parts: string[] = [];
    const { fraction, facts } = typeof this.state === 'function' ? this.state() : this.state;
    if (fraction !== undefined) {
      const clamped = Math.max(0, Math.min(1, fraction));
      const filled = Math.round(clamped * BAR_WIDTH);
      const percent = `${Math.round(clamped * 100)}%`.padStart(4);
      parts.push(
        withBar ? `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${percent}` : percent,
      );
    }
    if (withBar) parts.push(this.title);
    if (fraction === undefined) {
      parts.push(`${((performance.now() - this.phaseStartedAt) / 1000).toFixed(0)} s`);
    }
    for (const [key, value] of Object.entries(facts ?? {})) parts.push(`${key} ${value}`);
    const line = parts.join('  ');
    const columns = this.stream.columns ?? 120;
    return withBar && line.length > columns - 1 ? line.slice(0, columns - 1) : line;
  }

  private line(text: string) {
    const seconds = ((performance.now() - this.startedAt) / 1000).toFixed(1).padStart(6);
    this.stream.write(`[${seconds}s] ${text}\n`);
  }

  private clearBar() {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
