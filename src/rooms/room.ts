import type { Bus, LogEntry, RoomHistory, RoomKey } from '../cluster/bus.js';
import { WeftError, isWeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RoomRecord } from '../store/room-repository.js';
import { decodeLogEntry, encodeLogEntry, type RoomLogEntry } from './log-entry-codec.js';
import { parseRoomEphemeral, toEphemeral, type RoomEphemeral } from './room-ephemeral.js';
import {
  AWARENESS_CLIENT_KEY,
  AWARENESS_STATE_KEY,
  type Presence,
  type RoomEvent,
  type RoomMember,
  type RoomPeer,
} from './room-peer.js';
import { decodeRoomSnapshot, encodeRoomSnapshot } from './room-snapshot-codec.js';
import { EmptyRoomStorage, type RoomStorage } from './room-storage.js';
import { YjsDocuments } from './yjs-documents.js';

/** Lifecycle of a room in memory. */
export type RoomState = 'loading' | 'ready' | 'unloading';

/** Options of {@link Room}. */
export interface RoomOptions {
  record: RoomRecord;
  bus: Bus;
  logger: Logger;
  /** How long a write may wait for the log before it fails with WRITE_STALLED, in ms. */
  writeStallTimeoutMs: number;
  /**
   * Builds the room's Storage from its snapshot bytes (empty when none).
   * @default an {@link EmptyRoomStorage}
   */
  createStorage?: (snapshot: Uint8Array) => RoomStorage;
}

/** Options of a presence change. */
export interface PresenceChange {
  /** True when `data` is the whole presence rather than a patch. */
  full: boolean;
  /** A full presence addressed to one newcomer only. */
  targetActor?: number;
  /** The Yjs awareness clock y-websocket sent along; counted up by the room otherwise. */
  awarenessClock?: number;
}

/**
 * One room in memory on this node: its Yjs documents and Storage (changed only by log entries,
 * in log order), the connections on this node, and the users of other nodes as ephemeral bus
 * messages describe them.
 */
export class Room {
  readonly key: RoomKey;
  record: RoomRecord;
  readonly documents = new YjsDocuments();
  storage: RoomStorage = new EmptyRoomStorage();
  /** Seq of the last log entry applied. */
  lastSeq = 0;
  /** Seq covered by the latest snapshot loaded or written. */
  snapshotSeq = 0;
  /** Called whenever the room has neither connections nor pins left. */
  onIdle: () => void = () => {};

  private currentState: RoomState = 'loading';
  private readonly peers = new Map<number, RoomPeer>();
  private readonly members = new Map<number, RoomMember>();
  private readonly waiters: { seq: number; resolve: () => void }[] = [];
  private pins = 0;
  private readonly log: Logger;

  constructor(private readonly options: RoomOptions) {
    this.record = options.record;
    this.key = { organizationId: options.record.organizationId, roomId: options.record.id };
    this.log = options.logger.child({ org: this.key.organizationId, room: this.key.roomId });
  }

  get state(): RoomState {
    return this.currentState;
  }

  /** The one place the lifecycle changes. */
  setState(next: RoomState): void {
    if (next === this.currentState) return;
    this.log.debug({ from: this.currentState, to: next }, 'room state changed');
    this.currentState = next;
  }

  /** Connections on this node. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** No connections and no pins: the registry may unload the room. */
  get isIdle(): boolean {
    return this.peers.size === 0 && this.pins === 0;
  }

  /** Every user in the room, on any node. */
  allMembers(): RoomMember[] {
    return [...this.members.values()];
  }

  /** Keeps the room loaded while a join or a REST call uses it. Pair with {@link unpin}. */
  pin(): void {
    this.pins += 1;
  }

  unpin(): void {
    this.pins -= 1;
    if (this.isIdle) this.onIdle();
  }

  /** Builds the state from the latest snapshot and the entries after it. */
  load(history: RoomHistory): void {
    const createStorage = this.options.createStorage ?? (() => new EmptyRoomStorage());
    if (history.snapshot) {
      const snapshot = decodeRoomSnapshot(history.snapshot.data);
      this.documents.load(snapshot.documents);
      this.storage = createStorage(snapshot.storage);
      this.lastSeq = this.snapshotSeq = history.snapshot.seq;
    } else {
      this.storage = createStorage(new Uint8Array(0));
    }
    this.applyEntries(history.entries);
  }

  /** The state as snapshot bytes, covering the log up to {@link lastSeq}. */
  encodeSnapshot(): Uint8Array {
    return encodeRoomSnapshot({
      documents: this.documents.encodeAll(),
      storage: this.storage.encode(),
    });
  }

  /** Applies log entries in order (each once) and tells the connections. */
  applyEntries(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (entry.seq <= this.lastSeq) continue;
      this.lastSeq = entry.seq;

      let decoded: RoomLogEntry;
      try {
        decoded = decodeLogEntry(entry.data);
      } catch (error) {
        this.log.error({ err: error, seq: entry.seq }, 'unreadable log entry skipped');
        continue;
      }
      this.applyEntry(decoded, entry.seq);
    }
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= this.lastSeq) {
      this.waiters.shift()!.resolve();
    }
  }

  /** Resolves once the entry of `seq` has been applied here. */
  waitApplied(seq: number): Promise<void> {
    if (seq <= this.lastSeq) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push({ seq, resolve });
      this.waiters.sort((a, b) => a.seq - b.seq);
    });
  }

  /**
   * Appends a Yjs update to the log. It is applied and sent to the connections when the log
   * delivers it, never before. Rejects with WRITE_STALLED when the log fails or stays silent
   * past the write-stall timeout.
   */
  async submitYjsUpdate(
    origin: number,
    guid: string | null,
    update: Uint8Array,
    v2: boolean,
  ): Promise<number> {
    const entry = encodeLogEntry({ kind: 'yjs-update', origin, guid, v2, update });
    const [seq] = await this.appendDurably([entry]);
    return seq!;
  }

  /** Adds a connection of this node; returns the users who were there before it. */
  join(peer: RoomPeer): RoomMember[] {
    const others = this.allMembers();
    const member: RoomMember = {
      actor: peer.actor,
      nodeId: this.options.bus.nodeId,
      user: peer.user,
      presence: {},
      awarenessClock: 0,
    };
    this.peers.set(peer.actor, peer);
    this.members.set(peer.actor, member);

    this.fanOut({ type: 'user-joined', member }, peer.actor);
    this.publish({
      type: 'join',
      actor: peer.actor,
      user: peer.user,
      presence: {},
      awarenessClock: 0,
    });
    return others;
  }

  /** Removes a connection of this node. */
  leave(peer: RoomPeer): void {
    if (this.peers.get(peer.actor) !== peer) return;

    const member = this.members.get(peer.actor)!;
    this.peers.delete(peer.actor);
    this.members.delete(peer.actor);
    this.fanOut({ type: 'user-left', member });
    this.publish({ type: 'leave', actor: peer.actor });
    if (this.isIdle) this.onIdle();
  }

  /** Records and fans out a presence change of a connection of this node. */
  updatePresence(actor: number, data: Presence, change: PresenceChange): void {
    const member = this.members.get(actor);
    if (!member || !this.peers.has(actor)) return;

    this.applyPresence(member, data, change);
    const targeted = change.targetActor !== undefined && change.targetActor >= 0;
    this.publish({
      type: 'presence',
      actor,
      data: targeted ? member.presence : data,
      full: change.full,
      awarenessClock: member.awarenessClock,
      ...(change.targetActor !== undefined ? { targetActor: change.targetActor } : {}),
    });
  }

  /** Fans out a broadcast event; `actor` -1 for the REST API. */
  broadcast(actor: number, event: unknown): void {
    this.fanOut({ type: 'broadcast', actor, event }, actor);
    this.publish({ type: 'broadcast', actor, event });
  }

  /** Handles an ephemeral message of another node. */
  receiveEphemeral(raw: Parameters<typeof parseRoomEphemeral>[0], fromNode: string): void {
    const message = parseRoomEphemeral(raw);
    if (!message) {
      this.log.warn({ fromNode, type: raw.type }, 'malformed ephemeral message ignored');
      return;
    }
    switch (message.type) {
      case 'hello':
        for (const peer of this.peers.values()) {
          const member = this.members.get(peer.actor)!;
          this.publish({
            type: 'join',
            actor: member.actor,
            user: member.user,
            presence: member.presence,
            awarenessClock: member.awarenessClock,
          });
        }
        return;
      case 'join': {
        const known = this.members.get(message.actor);
        if (known) {
          known.presence = { ...message.presence };
          known.awarenessClock = message.awarenessClock;
          return;
        }
        const member: RoomMember = {
          actor: message.actor,
          nodeId: fromNode,
          user: message.user,
          presence: { ...message.presence },
          awarenessClock: message.awarenessClock,
        };
        this.members.set(member.actor, member);
        this.fanOut({ type: 'user-joined', member });
        if (Object.keys(member.presence).length > 0) {
          this.fanOut({ type: 'presence', member, data: member.presence, full: true });
        }
        return;
      }
      case 'leave': {
        const member = this.members.get(message.actor);
        if (!member || member.nodeId !== fromNode) return;
        this.members.delete(message.actor);
        this.fanOut({ type: 'user-left', member });
        return;
      }
      case 'presence': {
        const member = this.members.get(message.actor);
        if (!member || member.nodeId !== fromNode) return;
        // A targeted presence carries the sending node's full copy: the freshest there is.
        if (message.targetActor !== undefined && message.targetActor >= 0) {
          member.presence = { ...message.data };
        }
        this.applyPresence(member, message.data, message);
        return;
      }
      case 'broadcast':
        this.fanOut({ type: 'broadcast', actor: message.actor, event: message.event });
        return;
    }
  }

  /** Drops the users of nodes that stopped. */
  dropNodes(nodeIds: readonly string[]): void {
    for (const member of this.allMembers()) {
      if (member.nodeId === this.options.bus.nodeId || !nodeIds.includes(member.nodeId)) continue;
      this.members.delete(member.actor);
      this.fanOut({ type: 'user-left', member });
    }
  }

  /** Asks the other nodes hosting the room to announce their users. */
  announce(): void {
    this.publish({ type: 'hello' });
  }

  /** Closes every connection of this node with the error. */
  closeAll(error: WeftError): void {
    for (const peer of [...this.peers.values()]) peer.close(error);
  }

  /** The room's accesses changed: every connection re-checks its permissions. */
  reauthorize(record: RoomRecord): void {
    this.record = record;
    for (const peer of [...this.peers.values()]) peer.reauthorize(record);
  }

  /** Frees the documents. */
  destroy(): void {
    this.documents.destroy();
  }

  private applyEntry(entry: RoomLogEntry, seq: number) {
    if (entry.kind === 'storage-ops') {
      this.storage.applyEntry(entry);
      return;
    }
    try {
      this.documents.apply(entry.guid, entry.update, entry.v2);
    } catch (error) {
      this.log.error({ err: error, seq }, 'unappliable Yjs update skipped');
      return;
    }
    this.fanOut({
      type: 'yjs-update',
      origin: entry.origin,
      guid: entry.guid,
      update: entry.update,
      v2: entry.v2,
    });
  }

  private applyPresence(member: RoomMember, data: Presence, change: PresenceChange) {
    if (change.targetActor !== undefined && change.targetActor >= 0) {
      // A client answers USER_JOINED with the presence it had then, but flushes it after its
      // newer presence changes: the room's copy is never older, so the newcomer gets that.
      this.peers.get(change.targetActor)?.deliver({
        type: 'presence',
        member,
        data: member.presence,
        full: true,
        targetActor: change.targetActor,
      });
      return;
    }
    member.presence = change.full ? { ...data } : { ...member.presence, ...data };
    if (change.awarenessClock !== undefined) {
      member.awarenessClock = change.awarenessClock;
    } else if (AWARENESS_STATE_KEY in data || AWARENESS_CLIENT_KEY in data) {
      member.awarenessClock += 1;
    }

    this.fanOut({ type: 'presence', member, data, full: change.full }, member.actor);
  }

  private async appendDurably(entries: Uint8Array[]): Promise<number[]> {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WeftError('WRITE_STALLED')),
        this.options.writeStallTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.options.bus.append(this.key, entries), stalled]);
    } catch (error) {
      if (isWeftError(error)) throw error;
      throw new WeftError('WRITE_STALLED', undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }

  private fanOut(event: RoomEvent, exceptActor?: number) {
    for (const peer of this.peers.values()) {
      if (peer.actor !== exceptActor) peer.deliver(event);
    }
  }

  private publish(message: RoomEphemeral) {
    this.options.bus.publish(this.key, toEphemeral(message));
  }
}
