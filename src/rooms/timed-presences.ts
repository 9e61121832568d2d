import type { Logger } from '../log.js';
import type { TimedPresenceMessage } from './room-ephemeral.js';
import type { Presence, RoomMember, RoomUser } from './room-peer.js';

/**
 * Scopes connections see on a timed user: it shows presence and writes nothing else, like a
 * read-only user with presence.
 */
export const TIMED_USER_SCOPES: readonly string[] = Object.freeze([
  'room:read',
  'room:presence:write',
]);

/** What `POST /v2/rooms/{roomId}/presence` asks for. */
export interface TimedPresenceRequest {
  readonly userId: string;
  /** Public user info connections see, as a token's `userInfo`; undefined for none. */
  readonly info: unknown;
  readonly data: Presence;
  /** How long the user stays, in ms, unless renewed. */
  readonly ttlMs: number;
}

/** How {@link TimedPresences} reaches the room's members and the rest of the cluster. */
export interface TimedPresencesOptions {
  /** This node's id. */
  nodeId: string;
  /** Sends a message to the other nodes hosting the room. */
  publish: (message: TimedPresenceMessage) => void;
  /** The room's next actor id. */
  nextActor: () => Promise<number>;
  /** Keeps the room loaded while this node owns timed users; returns the release. */
  hold: () => () => void;
  /** Shows or replaces a member that no connection backs, to this node's connections. */
  putMember: (member: RoomMember) => void;
  /** Removes such a member, telling this node's connections. */
  removeMember: (actor: number) => void;
  logger: Logger;
}

/** A timed user as this node knows it. */
interface Entry {
  readonly actor: number;
  readonly user: RoomUser;
  readonly presence: Presence;
  /** The node whose call set it: it keeps the room loaded and announces it to newcomer nodes. */
  readonly nodeId: string;
  /** Wall-clock ms of the call; the latest call wins on every node. */
  readonly version: number;
  /** `performance.now()` at which it goes. */
  readonly deadline: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * Users shown in a room without a connection, each until its ttl passes: the presences of
 * `POST /v2/rooms/{roomId}/presence`. Connections see such a user like any other (USER_JOINED,
 * its full presence, USER_LEFT when it expires), and so does `GET …/active-users`.
 *
 * One user id has one timed user per room, and keeps its actor id while it lives. Every node
 * hosting the room holds a copy and expires it on its own clock, so a lost message cannot
 * leave a ghost behind. When calls for one user reach several nodes, the latest call (by
 * wall-clock time, then node id) wins everywhere, whatever order the messages arrive in; its
 * node owns the user from then on.
 */
export class TimedPresences {
  private readonly entries = new Map<string, Entry>();
  private release: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly options: TimedPresencesOptions) {}

  /**
   * Shows the user for `ttlMs` from now with this presence, replacing what an earlier call set;
   * resolves with its actor id, reused while the user lives.
   */
  async set(request: TimedPresenceRequest): Promise<number> {
    const known = this.entries.get(request.userId);
    const allocated = known ? known.actor : await this.options.nextActor();
    // A call for the same user may have finished during the wait: keep its actor.
    const previous = this.entries.get(request.userId);
    const actor = previous ? previous.actor : allocated;
    const message: TimedPresenceMessage = {
      type: 'timed-presence',
      actor,
      user: { id: request.userId, info: request.info, scopes: TIMED_USER_SCOPES },
      presence: request.data,
      ttlMs: request.ttlMs,
      // Later than any call this node saw for the user, even if the clock stepped back.
      version: Math.max(Date.now(), (previous?.version ?? 0) + 1),
    };

    this.apply(message, this.options.nodeId);
    this.options.publish(message);
    return actor;
  }

  /** A timed user set on another node. */
  receive(message: TimedPresenceMessage, fromNode: string): void {
    this.apply(message, fromNode);
  }

  /** Tells the other nodes about the users this node owns (a node has just loaded the room). */
  announce(): void {
    const now = performance.now();
    for (const entry of this.entries.values()) {
      if (entry.nodeId !== this.options.nodeId) continue;
      this.options.publish({
        type: 'timed-presence',
        actor: entry.actor,
        user: entry.user,
        presence: entry.presence,
        ttlMs: Math.max(1, Math.round(entry.deadline - now)),
        version: entry.version,
      });
    }
  }

  /** Forgets the users of stopped nodes; the room removes them from its members itself. */
  dropNodes(nodeIds: readonly string[]): void {
    for (const [userId, entry] of this.entries) {
      if (!nodeIds.includes(entry.nodeId)) continue;
      clearTimeout(entry.timer);
      this.entries.delete(userId);
    }
  }

  /** Stops every timer; the room is leaving memory. */
  clear(): void {
    this.stopped = true;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
    this.updateHold();
  }

  private apply(message: TimedPresenceMessage, nodeId: string) {
    if (this.stopped) return;
    const userId = message.user.id;
    const previous = this.entries.get(userId);
    if (previous && !isNewer(message.version, nodeId, previous)) return;

    if (previous) {
      clearTimeout(previous.timer);
      // Two nodes gave the user different actors before hearing of each other: one goes.
      if (previous.actor !== message.actor) this.options.removeMember(previous.actor);
    }
    const timer = setTimeout(() => this.expire(userId, message.actor), message.ttlMs);
    // Timers never keep a process alive on their own; the server does that.
    timer.unref();
    this.entries.set(userId, {
      actor: message.actor,
      user: message.user,
      presence: message.presence,
      nodeId,
      version: message.version,
      deadline: performance.now() + message.ttlMs,
      timer,
    });
    this.updateHold();
    this.options.putMember({
      actor: message.actor,
      nodeId,
      user: message.user,
      presence: { ...message.presence },
      awarenessClock: 0,
    });
    this.options.logger.debug(
      { actor: message.actor, user: userId, ttlMs: message.ttlMs, owner: nodeId },
      'timed presence set',
    );
  }

  private expire(userId: string, actor: number) {
    const entry = this.entries.get(userId);
    if (!entry || entry.actor !== actor) return;

    this.entries.delete(userId);
    this.updateHold();
    this.options.removeMember(actor);
    this.options.logger.debug({ actor, user: userId }, 'timed presence expired');
  }

  /** Holds the room while this node owns a timed user, and only then. */
  private updateHold() {
    const owns = [...this.entries.values()].some((entry) => entry.nodeId === this.options.nodeId);
    if (owns && !this.release) {
      this.release = this.options.hold();
    } else if (!owns && this.release) {
      const release = this.release;
      this.release = undefined;
      release();
    }
  }
}

/** Whether a call (its version and node) is later than the one an entry holds. */
function isNewer(version: number, nodeId: string, entry: Entry): boolean {
  if (version !== entry.version) return version > entry.version;
  return nodeId > entry.nodeId;
}
