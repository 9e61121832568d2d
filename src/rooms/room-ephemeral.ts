/**
 * The ephemeral messages rooms on different nodes exchange through `Bus.publish`: who joined and
 * left, presence, broadcast events, users shown without a connection, and a newcomer's request
 * to hear about everyone. They are
 * never stored; a node that misses one learns the truth at the next join or presence update.
 */
import type { EphemeralMessage } from '../cluster/bus.js';
import type { Presence, RoomUser } from './room-peer.js';

/** A connection of the sending node joined (or is announced to a newcomer node). */
export interface JoinMessage {
  readonly type: 'join';
  readonly actor: number;
  readonly user: RoomUser;
  readonly presence: Presence;
  readonly awarenessClock: number;
}

/** A connection of the sending node left. */
export interface LeaveMessage {
  readonly type: 'leave';
  readonly actor: number;
}

/** A presence change of a connection of the sending node. */
export interface PresenceMessage {
  readonly type: 'presence';
  readonly actor: number;
  readonly data: Presence;
  readonly full: boolean;
  readonly targetActor?: number;
  readonly awarenessClock: number;
}

/** A broadcast event; actor -1 when it came from the REST API. */
export interface BroadcastMessage {
  readonly type: 'broadcast';
  readonly actor: number;
  readonly event: unknown;
}

/** The sending node loaded the room: every other node announces its connections. */
export interface HelloMessage {
  readonly type: 'hello';
}

/**
 * A user shown without a connection (`POST /v2/rooms/{roomId}/presence`) for `ttlMs` from now.
 * Of two messages for one user, the higher `version` (wall-clock ms of the call) wins.
 */
export interface TimedPresenceMessage {
  readonly type: 'timed-presence';
  readonly actor: number;
  readonly user: RoomUser;
  readonly presence: Presence;
  readonly ttlMs: number;
  readonly version: number;
}

/** Every ephemeral message of a room. */
export type RoomEphemeral =
  | JoinMessage
  | LeaveMessage
  | PresenceMessage
  | BroadcastMessage
  | HelloMessage
  | TimedPresenceMessage;

/** Narrows a bus message to a room message; undefined for anything malformed. */
export function parseRoomEphemeral(message: EphemeralMessage): RoomEphemeral | undefined {
  const actorOk = Number.isSafeInteger(message.actor);
  switch (message.type) {
    case 'hello':
      return { type: 'hello' };
    case 'leave':
      return actorOk ? (message as unknown as LeaveMessage) : undefined;
    case 'broadcast':
      return actorOk ? (message as unknown as BroadcastMessage) : undefined;
    case 'join':
      return actorOk && isRecord(message.user) && isRecord(message.presence)
        ? (message as unknown as JoinMessage)
        : undefined;
    case 'presence':
      return actorOk && isRecord(message.data)
        ? (message as unknown as PresenceMessage)
        : undefined;
    case 'timed-presence':
      return actorOk &&
        isRecord(message.user) &&
        typeof message.user.id === 'string' &&
        isRecord(message.presence) &&
        isPositive(message.ttlMs) &&
        isPositive(message.version)
        ? (message as unknown as TimedPresenceMessage)
        : undefined;
    default:
      return undefined;
  }
}

/** Wraps a room message for the bus. */
export function toEphemeral(message: RoomEphemeral): EphemeralMessage {
  return message as unknown as EphemeralMessage;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
