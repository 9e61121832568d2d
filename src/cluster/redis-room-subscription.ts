import { randomBytes } from 'node:crypto';

import type { Logger } from '../log.js';
import type { EphemeralMessage, LogEntry, RoomBusHandler, RoomSubscription } from './bus.js';

/** One page of a room's log, read atomically with the room's seq counter. */
export interface LogPage {
  /** The room's counter when the page was read: no seq above it existed then. */
  readonly counter: number;
  /** Entries after the requested seq, in order. */
  readonly entries: readonly LogEntry[];
  /** True when the page was full: more entries may follow. */
  readonly more: boolean;
}

/** What a subscription needs from the bus. */
export interface SubscriptionLink {
  /** Logger with the room's `org` and `room` fields. */
  readonly logger: Logger;
  /** Reads a page after `afterSeq`, raising the room's counter to at least `afterSeq`. */
  readPage(afterSeq: number): Promise<LogPage>;
  /** Publishes a probe with this token on the room's channel. */
  sendProbe(token: string): Promise<unknown>;
  /** Detaches the subscription from the bus (called once, by close). */
  detach(subscription: RedisRoomSubscription): Promise<void>;
  /** Called when a repair (any log read after the first) delivered entries pub/sub missed. */
  repaired?(entries: number): void;
}

/** An entries frame as received: entries with seqs prev+1, prev+2, … */
export interface EntriesFrame {
  readonly prev: number;
  readonly entries: readonly Uint8Array[];
}

/**
 * - `starting`: the first read of the log runs; frames wait.
 * - `live`: frames are applied as they come; a gap starts a repair.
 * - `repairing`: the log is read after the last delivered seq; frames wait.
 * - `closed`: nothing is delivered any more.
 */
type SubscriptionState = 'starting' | 'live' | 'repairing' | 'closed';

/** A failed log read is retried after this long, doubling up to the cap. */
const READ_RETRY_FIRST_MS = 50;
const READ_RETRY_CAP_MS = 1_000;
/** A probe that did not come back within this long is sent again, doubling up to the cap. */
const PROBE_WAIT_FIRST_MS = 100;
const PROBE_WAIT_CAP_MS = 2_000;
/**
 * An entry this node appended that did not come back through the channel within this long was
 * lost on the way (or the subscriber is reconnecting): read it from the log.
 */
const OWN_ENTRY_REPAIR_MS = 500;
/**
 * Frames kept while a repair runs. Past this they are dropped and the log is read again
 * instead: the log holds them too, so this bounds memory without losing anything.
 */
const MAX_WAITING_FRAMES = 10_000;

/**
 * One node's subscription to one room: turns the room's pub/sub frames into an exactly-once,
 * in-order stream of entries. Pub/sub is at most once, so every frame carries its
 * predecessor's seq; a frame that does not follow the last delivered entry starts a repair,
 * which reads the missing range from the log (the stream). After a reconnect, the bus asks for
 * a resync: a probe round-trip proves the channel is live again, then the log is read, so that
 * nothing published while the subscriber was away is missed.
 */
export class RedisRoomSubscription implements RoomSubscription {
  private state: SubscriptionState = 'starting';
  private lastSeq: number;
  /** Frames received while reading the log, stamped with the number of the read running. */
  private waiting: { frame: EntriesFrame; stamp: number }[] = [];
  /** Number of log reads started. */
  private reads = 0;
  private readAgain = false;
  /** The room's counter at the previous tail check. */
  private observedCounter = 0;
  private probeToken: string | undefined;
  private probeArrived: (() => void) | undefined;
  /** Appends of this node waiting for their entries to be delivered here. */
  private deliveryWaiters: { seq: number; resolve: () => void }[] = [];

  constructor(
    afterSeq: number,
    private readonly handler: RoomBusHandler,
    private readonly link: SubscriptionLink,
  ) {
    this.lastSeq = afterSeq;
  }

  /** The seq of the last entry delivered. */
  get deliveredSeq(): number {
    return this.lastSeq;
  }

  /** Entries the log had at the last tail check that are not delivered yet. */
  get lag(): number {
    return Math.max(0, this.observedCounter - this.lastSeq);
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Resolves once the entry `seq` was delivered (or the subscription closed), so that a node
   * acknowledges its own write only after its room applied it. Reads the log if the entry does
   * not arrive soon.
   */
  awaitDelivery(seq: number): Promise<void> {
    if (this.lastSeq >= seq || this.state === 'closed') return Promise.resolve();

    return new Promise((resolve) => {
      const timer = setTimeout(() => this.repair(), OWN_ENTRY_REPAIR_MS);
      this.deliveryWaiters.push({
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  /** Reads the log after the start seq; rejects when it cannot be read before the deadline. */
  async start(deadline: number): Promise<void> {
    await this.catchUp(deadline);
  }

  /** An entries frame from the channel. */
  receiveEntries(frame: EntriesFrame): void {
    if (this.state === 'closed') return;
    if (this.state !== 'live') {
      this.wait(frame);
      return;
    }

    const end = frame.prev + frame.entries.length;
    if (end <= this.lastSeq) return;
    if (frame.prev > this.lastSeq) {
      this.wait(frame);
      this.repair();
      return;
    }
    this.deliverFrame(frame);
  }

  /** An ephemeral message of another node. */
  receiveEphemeral(message: EphemeralMessage, fromNode: string): void {
    if (this.state === 'closed') return;
    try {
      this.handler.onEphemeral(message, fromNode);
    } catch (error) {
      this.link.logger.error({ err: error }, 'room handler failed on an ephemeral message');
    }
  }

  /** A probe of this node came back through the channel. */
  receiveProbe(token: string): void {
    if (token === this.probeToken) this.probeArrived?.();
  }

  /** Nodes stopped heartbeating. */
  nodesDown(nodeIds: readonly string[]): void {
    if (this.state === 'closed' || !this.handler.onNodesDown) return;
    try {
      this.handler.onNodesDown(nodeIds);
    } catch (error) {
      this.link.logger.error({ err: error }, 'room handler failed on nodes down');
    }
  }

  /**
   * The subscriber connection came back (or may have lost messages): once a probe shows the
   * channel delivers again, reads what the log got meanwhile.
   */
  resync(): void {
    if (this.state === 'closed') return;
    const token = randomBytes(8).toString('hex');
    this.probeToken = token;
    void this.probeThenRepair(token);
  }

  /**
   * Compares the room's counter with what was delivered. Entries the counter showed one check
   * ago and that still did not arrive were lost on the way: read them from the log. A counter
   * below the delivered seq means Redis lost data: the read raises it back.
   */
  checkTail(counter: number): void {
    if (this.state !== 'live') return;
    const overdue = this.observedCounter > this.lastSeq || counter < this.lastSeq;
    this.observedCounter = counter;
    if (overdue) this.repair();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.waiting = [];
    this.probeToken = undefined;
    this.probeArrived?.();
    this.releaseWaiters();
    await this.link.detach(this);
  }

  private repair(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'live') {
      this.readAgain = true;
      return;
    }
    this.catchUp().catch((error: unknown) => {
      this.link.logger.error({ err: error }, 'room log repair failed');
    });
  }

  /** Reads the log until no frame waits for entries the log might still have. */
  private async catchUp(deadline?: number): Promise<void> {
    const starting = this.state === 'starting';
    if (!starting) this.state = 'repairing';
    let recovered = 0;
    try {
      do {
        this.readAgain = false;
        const read = await this.readLog(deadline);
        recovered += read.delivered;
        this.drainWaiting(read.number);
      } while (this.readAgain && !this.closed);
    } finally {
      if (!this.closed) this.state = 'live';
    }
    if (!starting && recovered > 0) this.link.repaired?.(recovered);
  }

  /** Reads the log to its end; returns the read's number and how many entries it delivered. */
  private async readLog(
    deadline: number | undefined,
  ): Promise<{ number: number; delivered: number }> {
    const read = { number: ++this.reads, delivered: 0 };
    for (;;) {
      const page = await this.readPage(deadline);
      if (!page || this.state === 'closed') return read;

      read.delivered += this.deliverLog(page.entries);
      if (page.more) continue;
      if (page.counter > this.lastSeq) {
        // Read in the same step as the page: these seqs are not in the stream and never will be.
        this.reportHole(this.lastSeq + 1, page.counter);
        this.lastSeq = page.counter;
        this.releaseWaiters();
      }
      return read;
    }
  }

  private async readPage(deadline: number | undefined): Promise<LogPage | undefined> {
    let delayMs = READ_RETRY_FIRST_MS;
    for (;;) {
      try {
        return await this.link.readPage(this.lastSeq);
      } catch (error) {
        if (deadline !== undefined && Date.now() + delayMs >= deadline) throw error;
        this.link.logger.debug({ err: error }, 'room log read failed, retrying');
      }
      await sleep(delayMs);
      if (this.state === 'closed') return undefined;
      delayMs = Math.min(delayMs * 2, READ_RETRY_CAP_MS);
    }
  }

  /** Applies waiting frames after a read; keeps those that need another read. */
  private drainWaiting(read: number): void {
    const waiting = this.waiting.sort((a, b) => a.frame.prev - b.frame.prev);
    this.waiting = [];
    for (let i = 0; i < waiting.length; i++) {
      const { frame, stamp } = waiting[i]!;
      if (frame.prev + frame.entries.length <= this.lastSeq) continue;
      if (frame.prev > this.lastSeq && stamp >= read) {
        // Received while this read ran: the read may have missed its predecessors. Read again.
        this.waiting = waiting.slice(i);
        this.readAgain = true;
        return;
      }
      if (frame.prev > this.lastSeq) this.reportHole(this.lastSeq + 1, frame.prev);
      this.deliverFrame(frame);
    }
  }

  private wait(frame: EntriesFrame): void {
    if (this.waiting.length >= MAX_WAITING_FRAMES) {
      this.waiting = [];
      this.readAgain = true;
      return;
    }
    this.waiting.push({ frame, stamp: this.reads });
  }

  /** Delivers the entries not delivered yet; returns how many. */
  private deliverLog(entries: readonly LogEntry[]): number {
    const fresh: LogEntry[] = [];
    for (const entry of entries) {
      if (entry.seq <= this.lastSeq) continue;
      if (entry.seq > this.lastSeq + 1) this.reportHole(this.lastSeq + 1, entry.seq - 1);
      fresh.push(entry);
      this.lastSeq = entry.seq;
    }
    this.deliver(fresh);
    return fresh.length;
  }

  private deliverFrame(frame: EntriesFrame): void {
    const fresh: LogEntry[] = [];
    frame.entries.forEach((data, i) => {
      const seq = frame.prev + 1 + i;
      if (seq > this.lastSeq) fresh.push({ seq, data });
    });
    if (fresh.length > 0) this.lastSeq = fresh[fresh.length - 1]!.seq;
    this.deliver(fresh);
  }

  private deliver(entries: LogEntry[]): void {
    if (entries.length === 0 || this.state === 'closed') return;
    try {
      this.handler.onEntries(entries);
    } catch (error) {
      this.link.logger.error({ err: error }, 'room handler failed on entries');
    }
    this.releaseWaiters();
  }

  private releaseWaiters(): void {
    if (this.deliveryWaiters.length === 0) return;
    const closed = this.state === 'closed';
    const waiting = this.deliveryWaiters;
    this.deliveryWaiters = [];
    for (const waiter of waiting) {
      if (closed || waiter.seq <= this.lastSeq) waiter.resolve();
      else this.deliveryWaiters.push(waiter);
    }
  }

  private reportHole(fromSeq: number, toSeq: number): void {
    // Trimmed behind a snapshot before this node read them, or lost with Redis data.
    this.link.logger.error({ fromSeq, toSeq }, 'room log entries missing, skipped');
  }

  private async probeThenRepair(token: string): Promise<void> {
    let waitMs = PROBE_WAIT_FIRST_MS;
    while (this.probeToken === token) {
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<boolean>((resolve) => {
        this.probeArrived = () => resolve(true);
        timer = setTimeout(() => resolve(false), waitMs);
      });
      this.link.sendProbe(token).catch((error: unknown) => {
        this.link.logger.debug({ err: error }, 'probe not sent, retrying');
      });
      const came = await arrived;
      clearTimeout(timer);
      if (came && this.probeToken === token) {
        this.probeToken = undefined;
        this.probeArrived = undefined;
        this.repair();
        return;
      }
      waitMs = Math.min(waitMs * 2, PROBE_WAIT_CAP_MS);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
