import { WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RoomKey } from './bus.js';
import { waitForReady, type RedisClient } from './redis-connection.js';
import { roomKeys, type RoomKeys } from './redis-keys.js';
import { runScript } from './redis-scripts.js';

/** Options of {@link RedisAppender}. */
export interface RedisAppenderOptions {
  readonly client: RedisClient;
  /** Writer field of the room's writers hash. */
  readonly nodeId: string;
  /** Unique to this process: batch tokens of an earlier process with the same node id differ. */
  readonly sessionId: string;
  /** `SPUBLISH` on a cluster, `PUBLISH` on one server. */
  readonly publishCommand: 'PUBLISH' | 'SPUBLISH';
  /** How long an append may wait for Redis before it is rejected. Milliseconds. */
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Highest seq of the room this node has seen: the counter is raised to it first. */
  floor(room: RoomKey, keys: RoomKeys): number;
}

interface PendingAppend {
  readonly entries: readonly Uint8Array[];
  readonly deadline: number;
  resolve(seqs: number[]): void;
  reject(error: Error): void;
}

interface RoomQueue {
  readonly room: RoomKey;
  readonly keys: RoomKeys;
  pending: PendingAppend[];
  scheduled: boolean;
  writing: boolean;
}

/** A batch takes whole appends until it holds this many entries… */
const MAX_BATCH_ENTRIES = 1_000;
/** …or this many bytes, so that one script call stays short for the shard. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** A failed write is retried after this long, doubling up to the cap, until its deadline. */
const RETRY_FIRST_MS = 25;
const RETRY_CAP_MS = 500;

/**
 * Writes appends to the rooms' logs. Appends of one event-loop turn for a room go out as one
 * script call; while it is in flight the next appends gather into the next batch (one batch per
 * room in flight per node, which keeps a node's appends in order and lets the script recognise
 * a retried batch). A batch is retried until its oldest append's deadline, then rejected with
 * WRITE_STALLED; it is never sent after that, so a rejected append only reaches the log if its
 * last attempt did before the reply was lost.
 */
export class RedisAppender {
  private readonly queues = new Map<string, RoomQueue>();
  private batchCount = 0;
  private closed = false;

  constructor(private readonly options: RedisAppenderOptions) {}

  append(room: RoomKey, entries: readonly Uint8Array[]): Promise<number[]> {
    if (this.closed) return Promise.reject(new WeftError('SHUTTING_DOWN'));
    if (entries.length === 0) return Promise.resolve([]);

    const keys = roomKeys(room);
    let queue = this.queues.get(keys.tag);
    if (!queue) {
      queue = { room, keys, pending: [], scheduled: false, writing: false };
      this.queues.set(keys.tag, queue);
    }
    const deadline = Date.now() + this.options.timeoutMs;
    const result = new Promise<number[]>((resolve, reject) => {
      queue.pending.push({ entries, deadline, resolve, reject });
    });
    this.schedule(queue);
    return result;
  }

  /** Rejects appends not yet sent; those in flight settle on their own. */
  close(): void {
    this.closed = true;
    for (const queue of this.queues.values()) {
      for (const pending of queue.pending.splice(0)) pending.reject(new WeftError('SHUTTING_DOWN'));
    }
  }

  private schedule(queue: RoomQueue): void {
    if (queue.scheduled || queue.writing) return;
    queue.scheduled = true;
    // setImmediate rather than a microtask: appends from every socket message read in the same
    // poll phase join one batch.
    setImmediate(() => void this.flush(queue));
  }

  private async flush(queue: RoomQueue): Promise<void> {
    queue.scheduled = false;
    if (queue.writing || queue.pending.length === 0) return;

    queue.writing = true;
    const batch = takeBatch(queue);
    try {
      // ioredis sends only Buffers as bytes; any other Uint8Array would go out as text.
      const entries = batch.flatMap((pending) => pending.entries.map(asBuffer));
      const deadline = Math.min(...batch.map((pending) => pending.deadline));
      let seq = await this.write(queue, entries, deadline);
      for (const pending of batch) {
        pending.resolve(pending.entries.map(() => seq++));
      }
    } catch (error) {
      for (const pending of batch) pending.reject(error as Error);
    } finally {
      queue.writing = false;
      if (queue.pending.length > 0) this.schedule(queue);
      else this.queues.delete(queue.keys.tag);
    }
  }

  /** Runs the append script until it succeeds or the deadline passes; returns the first seq. */
  private async write(queue: RoomQueue, entries: Buffer[], deadline: number): Promise<number> {
    const { client, nodeId, sessionId, publishCommand } = this.options;
    const token = `${sessionId}:${++this.batchCount}`;
    const { keys } = queue;
    let delayMs = RETRY_FIRST_MS;
    let lastError: unknown;

    for (let attempt = 1; ; attempt++) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) {
        throw new WeftError('WRITE_STALLED', undefined, { cause: lastError });
      }
      try {
        await waitForReady(client, remainingMs);
        const floor = this.options.floor(queue.room, keys);
        const call = runScript(
          client,
          'weftAppend',
          [keys.seq, keys.log, keys.writers, keys.move],
          [keys.channel, publishCommand, floor, nodeId, token, ...entries],
        );
        return Number(await withTimeout(call, remainingMs));
      } catch (error) {
        // The room was renamed: this node has not dropped it yet. Its clients rejoin under the
        // new id and resend; retrying here could only fail.
        if (movedMarker(error) === 'renamed') throw new WeftError('ROOM_ID_UPDATED');
        lastError = error;
        if (attempt === 1) {
          this.options.logger.warn(
            { err: error, org: queue.room.organizationId, room: queue.room.roomId },
            'room log append failed, retrying',
          );
        }
      }
      await sleep(Math.min(delayMs, Math.max(0, deadline - Date.now())));
      delayMs = Math.min(delayMs * 2, RETRY_CAP_MS);
    }
  }
}

/** The move marker a refused append names (`WEFTMOVE in`, `WEFTMOVE renamed`), if any. */
function movedMarker(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return /^WEFTMOVE (\S+)/.exec(message)?.[1];
}

function takeBatch(queue: RoomQueue): PendingAppend[] {
  let count = 0;
  let bytes = 0;
  let taken = 0;
  for (const pending of queue.pending) {
    const size = pending.entries.reduce((sum, entry) => sum + entry.byteLength, 0);
    if (
      taken > 0 &&
      (count + pending.entries.length > MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES)
    ) {
      break;
    }
    count += pending.entries.length;
    bytes += size;
    taken++;
  }
  return queue.pending.splice(0, taken);
}

function asBuffer(entry: Uint8Array): Buffer {
  return Buffer.isBuffer(entry)
    ? entry
    : Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength);
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no reply from Redis within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  // The losing call may still settle later; its outcome no longer matters.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
