/**
 * Bounded waiting. Every wait of the bench goes through these helpers, so that no scenario can
 * hang: a wait that runs out throws an error that names what it waited for.
 */

/** Thrown when a bounded wait runs out. */
export class BenchTimeoutError extends Error {
  override readonly name = 'BenchTimeoutError';
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Settles like `promise`, or rejects with a {@link BenchTimeoutError} naming `what` after
 * `timeoutMs` milliseconds.
 */
export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new BenchTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Options of {@link waitUntil}. */
export interface WaitUntilOptions {
  /** Longest wait, in milliseconds. */
  timeoutMs: number;
  /** Time between two checks, in milliseconds. @default 20 */
  intervalMs?: number;
  /** What is waited for, named in the timeout error. */
  what: string;
  /** When true, running out returns false instead of throwing. @default false */
  soft?: boolean;
}

/**
 * Polls `predicate` until it returns true. Returns true when it did, false when the time ran out
 * and `soft` is set; throws a {@link BenchTimeoutError} otherwise.
 */
export async function waitUntil(
  predicate: () => boolean,
  options: WaitUntilOptions,
): Promise<boolean> {
  const deadline = performance.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 20;

  while (!predicate()) {
    if (performance.now() >= deadline) {
      if (options.soft) return false;
      throw new BenchTimeoutError(
        `timed out after ${options.timeoutMs} ms waiting for ${options.what}`,
      );
    }
    await sleep(intervalMs);
  }
  return true;
}

/**
 * Runs `task` over `items` with at most `limit` tasks in flight, in order of the items. Rejects
 * with the first failure once the tasks in flight have settled.
 */
export async function mapWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: unknown;

  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const index = next++;
      try {
        results[index] = await task(items[index]!, index);
      } catch (error) {
        failure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));

  if (failure !== undefined) throw failure;
  return results;
}
