import type { EphemeralMessage } from '../cluster/bus.js';
import type { WeftError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RoomRecord } from '../store/room-repository.js';
import { parseRoomEphemeral, toEphemeral, type RoomEphemeral } from './room-ephemeral.js';
import { TimedPresences } from './timed-presences.js';
import {
  AWARENESS_CLIENT_KEY,
  AWARENESS_STATE_KEY,
  type Presence,
  type RoomEvent,
  type RoomMember,
  type RoomPeer,
  type RoomUser,
} from './room-peer.js';

/** Options of {@link RoomPresence}. */
export interface RoomPresenceOptions {
  /** This node's id: members of this node are its connections. */
  nodeId: string;
  /** Sends an ephemeral message to the other nodes hosting the room. */
  publish: (message: EphemeralMessage) => void;
  /** Called when the last connection of this node left. */
  onEmpty: () => void;
  /** The room's next actor id, for users shown without a connection. */
  nextActor: () => Promise<number>;
  /**
   * Keeps the room loaded while this node shows users without a connection; returns the
   * release.
   */
  hold: () => () => void;
  logger: Logger;
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
 * Who is in a room and what they show: the connections of this node (peers) and the users of
 * every node (members) with their presence. Joins, leaves, presence and broadcast events are
 * fanned out to the local connections and published to the other nodes; the other nodes'
 * messages come back through {@link receiveEphemeral}. Nothing here is stored.
 */
export class RoomPresence {
  private readonly peers = new Map<number, RoomPeer>();
  private readonly members = new Map<number, RoomMember>();
  /** Users shown without a connection, until their ttl passes (REST `setPresence`). */
  readonly timed: TimedPresences;

  constructor(private readonly options: RoomPresenceOptions) {
    this.timed = new TimedPresences({
      nodeId: options.nodeId,
      publish: (message) => this.publish(message),
      nextActor: options.nextActor,
      hold: options.hold,
      putMember: (member) => this.putMember(member),
      removeMember: (actor) => this.removeMember(actor),
      logger: options.logger,
    });
  }

  /** Connections on this node. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** Every user in the room, on any node. */
  allMembers(): RoomMember[] {
    return [...this.members.values()];
  }

  /** Adds a connection of this node; returns the users who were there before it. */
  join(peer: RoomPeer): RoomMember[] {
    const others = this.allMembers();
    const member: RoomMember = {
      actor: peer.actor,
      nodeId: this.options.nodeId,
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
    if (this.peers.size === 0) this.options.onEmpty();
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
      this.options.logger.warn({ fromNode, type: raw.type }, 'malformed ephemeral message ignored');
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
        this.timed.announce();
        return;
      case 'timed-presence':
        this.timed.receive(message, fromNode);
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
    this.timed.dropNodes(nodeIds);
    for (const member of this.allMembers()) {
      if (member.nodeId === this.options.nodeId || !nodeIds.includes(member.nodeId)) continue;
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

  /** Every connection of this node re-checks its permissions against the room's accesses. */
  reauthorize(record: RoomRecord): void {
    for (const peer of [...this.peers.values()]) peer.reauthorize(record);
  }

  /** Sends an event to every connection of this node but `exceptActor`. */
  fanOut(event: RoomEvent, exceptActor?: number): void {
    for (const peer of this.peers.values()) {
      if (peer.actor !== exceptActor) peer.deliver(event);
    }
  }

  private publish(message: RoomEphemeral) {
    this.options.publish(toEphemeral(message));
  }

  /**
   * Shows a member no connection of this node backs (a timed user), or replaces the one of its
   * actor. Connections hear of it as of any user: USER_JOINED when it is new or its user
   * changed (after USER_LEFT of the old one), then its full presence, which makes it listed.
   */
  private putMember(member: RoomMember) {
    if (this.peers.has(member.actor)) return;

    const known = this.members.get(member.actor);
    this.members.set(member.actor, member);
    if (!known || !sameUser(known.user, member.user)) {
      if (known) this.fanOut({ type: 'user-left', member: known });
      this.fanOut({ type: 'user-joined', member });
    }
    this.fanOut({ type: 'presence', member, data: member.presence, full: true });
  }

  /** Removes a member no connection of this node backs. */
  private removeMember(actor: number) {
    const member = this.members.get(actor);
    if (!member || this.peers.has(actor)) return;

    this.members.delete(actor);
    this.fanOut({ type: 'user-left', member });
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
}

function sameUser(a: RoomUser, b: RoomUser): boolean {
  return (
    a.id === b.id &&
    JSON.stringify(a.info) === JSON.stringify(b.info) &&
    a.scopes.join(' ') === b.scopes.join(' ')
  );
}
