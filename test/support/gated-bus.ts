import type {
  Bus,
  EphemeralMessage,
  RoomBusHandler,
  RoomChange,
  RoomHistory,
  RoomKey,
  RoomSubscription,
} from '../../src/cluster/bus.js';

/**
 * A bus that forwards to a real one, except that a test can hold appends or room loads at a
 * gate — the log stalling as a lost Redis or a locked database would make it.
 */
export class GatedBus implements Bus {
  /** While true, appends wait (and never resolve unless the gate opens). */
  holdAppends = false;
  /** While true, history() waits: rooms cannot load. */
  holdHistory = false;
  private waiting: Array<() => void> = [];

  constructor(private readonly inner: Bus) {}

  get nodeId(): string {
    return this.inner.nodeId;
  }

  /** Opens every gate and lets the held calls through. */
  release(): void {
    this.holdAppends = false;
    this.holdHistory = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const resume of waiting) resume();
  }

  async append(room: RoomKey, entries: readonly Uint8Array[]): Promise<number[]> {
    if (this.holdAppends) await this.gate();
    return this.inner.append(room, entries);
  }

  async history(room: RoomKey): Promise<RoomHistory> {
    if (this.holdHistory) await this.gate();
    return this.inner.history(room);
  }

  subscribe(room: RoomKey, afterSeq: number, handler: RoomBusHandler): Promise<RoomSubscription> {
    return this.inner.subscribe(room, afterSeq, handler);
  }

  publish(room: RoomKey, message: EphemeralMessage): void {
    this.inner.publish(room, message);
  }

  nextActor(room: RoomKey): Promise<number> {
    return this.inner.nextActor(room);
  }

  snapshot(room: RoomKey, seq: number, data: Uint8Array): Promise<boolean> {
    return this.inner.snapshot(room, seq, data);
  }

  forget(room: RoomKey): Promise<void> {
    return this.inner.forget(room);
  }

  moveRoom(from: RoomKey, to: RoomKey): Promise<void> {
    return this.inner.moveRoom(from, to);
  }

  publishRoomChange(change: RoomChange): void {
    this.inner.publishRoomChange(change);
  }

  onRoomChange(handler: (change: RoomChange, fromNode: string) => void): void {
    this.inner.onRoomChange(handler);
  }

  ready(): Promise<boolean> {
    return this.inner.ready();
  }

  async close(): Promise<void> {
    this.release();
    await this.inner.close();
  }

  private gate(): Promise<void> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }
}
