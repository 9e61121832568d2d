import type { RawData } from 'ws';

import { canWriteStorage, matrixToScopes, type PermissionMatrix } from '../auth/permissions.js';
import type { Bus } from '../cluster/bus.js';
import type { Limits } from '../config.js';
import { WeftError, isWeftError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/room-registry.js';
import type { RoomEvent, RoomMember, RoomPeer, RoomUser } from '../rooms/room-peer.js';
import type { RoomRecord, RoomRepository } from '../store/room-repository.js';
import type { ClientSocket } from './client-socket.js';
import {
  authorizeJoin,
  permissionsOf,
  type JoinAuthorizationDeps,
  type JoinGrant,
  type JoinRequest,
} from './join-authorization.js';

/** Messages a socket may send before its join completes; they are handled right after it. */
const MAX_EARLY_MESSAGES = 64;

/** Joins retried from the start when the room was dropped while the join ran. */
const MAX_JOIN_ATTEMPTS = 3;

/** Longest timer Node accepts, in ms (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What every session uses. */
export interface SessionDeps extends JoinAuthorizationDeps {
  readonly rooms: RoomRepository;
  readonly registry: RoomRegistry;
  readonly bus: Bus;
  readonly limits: Pick<Limits, 'maxConnectionsPerRoom' | 'handshakeTimeoutMs'>;
  readonly metrics?: Metrics;
}

/** Lifecycle of a session. */
export type SessionState = 'joining' | 'joined' | 'closed';

/**
 * One client connection, from its upgrade to its close, whatever its protocol: it runs the
 * join sequence (token, room, organization, permissions, room full, actor), enforces the
 * handshake timeout and the token's expiry, holds messages that arrive before the join is
 * complete, and leaves the room on close. Protocol sessions add the wire format.
 */
export abstract class ClientSession implements RoomPeer {
  actor = 0;
  user: RoomUser = { id: '', info: undefined, scopes: [] };
  canWrite = false;
  protected room: Room | undefined;
  protected grant: JoinGrant | undefined;
  private state: SessionState = 'joining';
  private early: { data: RawData; isBinary: boolean }[] = [];
  private handshakeTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly socket: ClientSocket,
    protected readonly deps: SessionDeps,
    private readonly request: JoinRequest,
  ) {}

  /** Starts the session on an open socket. */
  start(): void {
    const ws = this.socket.ws;
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('error', (error) => this.socket.log.info({ err: error }, 'socket error'));
    ws.once('close', (code) => this.teardown(code));

    this.handshakeTimer = setTimeout(() => {
      this.socket.log.info({ ms: this.deps.limits.handshakeTimeoutMs }, 'handshake timed out');
      this.close(new WeftError('HANDSHAKE_TIMEOUT'));
    }, this.deps.limits.handshakeTimeoutMs);

    this.join().catch((error: unknown) => this.refuse(error));
  }

  /** Closes the connection with the error's close code and message. */
  close(error: WeftError): void {
    this.socket.close(error);
  }

  /** Re-checks permissions after the room's accesses changed (ID tokens only). */
  reauthorize(record: RoomRecord): void {
    if (!this.grant || this.grant.token.kind !== 'id') return;

    const permissions = permissionsOf(this.grant.token, record);
    const scopes = matrixToScopes(permissions);
    if (permissions.room === 'none') {
      this.close(new WeftError('UNAUTHORIZED_ROOM_ACCESS'));
    } else if (scopes.join(' ') !== this.user.scopes.join(' ')) {
      // The client learns its scopes only from ROOM_STATE: it must rejoin to get the new ones.
      this.close(new WeftError('ROOM_ACCESS_CHANGED'));
    }
  }

  abstract deliver(event: RoomEvent): void;

  /** Metrics label of the protocol. */
  protected abstract readonly protocol: 'liveblocks' | 'yjs';

  /** Sends the protocol's greeting once the session is in the room. */
  protected abstract onJoined(others: RoomMember[]): void;

  /** Handles one message of a joined session. Throwing closes the socket with INVALID_MESSAGE. */
  protected abstract onMessage(data: RawData, isBinary: boolean): void;

  /** Called once when the socket has closed. */
  protected onClosed(): void {}

  /** Counts one received message by kind. */
  protected countMessage(kind: string): void {
    this.deps.metrics?.messagesReceived.inc({ protocol: this.protocol, kind });
  }

  /** Logs a write of a read-only connection, which is applied nowhere. */
  protected logRefusedWrite(kind: 'yjs' | 'storage', fields: Record<string, unknown> = {}): void {
    this.socket.log.info({ kind, ...fields }, 'write of a read-only connection refused');
  }

  /** Appends a Yjs update from this connection; closes the socket when the log stalls. */
  protected submitYjsUpdate(guid: string | null, update: Uint8Array, v2: boolean): void {
    const room = this.room!;
    room.submitYjsUpdate(this.actor, guid, update, v2).catch((error: unknown) => {
      this.socket.log.warn({ err: error }, 'write not acknowledged by the room log');
      this.close(isWeftError(error) ? error : new WeftError('WRITE_STALLED'));
    });
  }

  private receive(data: RawData, isBinary: boolean) {
    if (this.state === 'closed') return;
    this.socket.admit();

    if (this.state === 'joining') {
      if (this.early.length >= MAX_EARLY_MESSAGES) {
        this.close(
          new WeftError('INVALID_MESSAGE', 'Too many messages before the join completed.'),
        );
        return;
      }
      this.early.push({ data, isBinary });
      return;
    }
    this.handle(data, isBinary);
  }

  private handle(data: RawData, isBinary: boolean) {
    try {
      this.onMessage(data, isBinary);
    } catch (error) {
      this.socket.log.info({ err: error }, 'invalid message');
      this.close(isWeftError(error) ? error : new WeftError('INVALID_MESSAGE'));
    }
  }

  private async join() {
    for (let attempt = 1; ; attempt += 1) {
      const grant = await authorizeJoin(this.deps, this.request);
      if (this.state !== 'joining') return;

      const room = await this.deps.registry.acquire(grant.room);
      try {
        if (this.state !== 'joining') return;
        this.requireSeat(room);
        const actor = await this.deps.bus.nextActor(room.key);
        if (this.state !== 'joining') return;
        // Another join may have taken the last seat while the actor was being fetched.
        this.requireSeat(room);

        // Deleted or renamed meanwhile: start over, the checks will say what became of it.
        if (room.state === 'ready') return this.enter(room, grant, actor);
        if (attempt === MAX_JOIN_ATTEMPTS) throw new WeftError('OVERLOADED');
      } finally {
        room.unpin();
      }
    }
  }

  private enter(room: Room, grant: JoinGrant, actor: number) {
    const permissions: PermissionMatrix = grant.permissions;
    this.grant = grant;
    this.actor = actor;
    this.user = {
      id: grant.token.userId,
      info: grant.token.userInfo,
      scopes: matrixToScopes(permissions),
    };
    this.canWrite = canWriteStorage(permissions);
    this.socket.log = this.socket.log.child({
      org: room.key.organizationId,
      room: room.key.roomId,
      user: grant.token.userId,
      actor,
    });

    const others = room.presence.join(this);
    this.room = room;
    this.state = 'joined';
    clearTimeout(this.handshakeTimer);
    this.onJoined(others);
    this.socket.log.debug({ canWrite: this.canWrite, created: grant.created }, 'joined room');
    this.deps.metrics?.connections.inc({ protocol: this.protocol, org: room.key.organizationId });

    this.armExpiry(grant.token.expiresAt);
    this.deps.rooms.touchConnection(room.key.roomId, new Date().toISOString()).catch((error) => {
      this.socket.log.warn({ err: error }, 'could not record the connection time');
    });

    const early = this.early;
    this.early = [];
    for (const message of early) {
      if (this.state !== 'joined') break;
      this.handle(message.data, message.isBinary);
    }
  }

  private requireSeat(room: Room) {
    if (room.presence.peerCount >= this.deps.limits.maxConnectionsPerRoom) {
      throw new WeftError('ROOM_FULL');
    }
  }

  private armExpiry(expiresAtSeconds: number) {
    const delay = Math.min(Math.max(expiresAtSeconds * 1000 - Date.now(), 0), MAX_TIMER_MS);
    this.expiryTimer = setTimeout(() => {
      this.socket.log.info('token expired during the session');
      this.close(new WeftError('TOKEN_EXPIRED'));
    }, delay);
  }

  private refuse(error: unknown) {
    const weft = isWeftError(error)
      ? error
      : new WeftError('INTERNAL_ERROR', undefined, { cause: error });
    if (weft.status >= 500 && weft.code !== 'OVERLOADED' && weft.code !== 'SHUTTING_DOWN') {
      this.socket.log.error({ err: error }, 'join failed');
    } else {
      this.socket.log.info({ code: weft.code }, 'join refused');
    }
    this.close(weft);
  }

  private teardown(code: number) {
    if (this.state === 'closed') return;
    const wasJoined = this.state === 'joined';
    this.state = 'closed';
    this.early = [];
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.expiryTimer);

    if (wasJoined && this.room) {
      this.room.presence.leave(this);
      this.deps.metrics?.connections.dec({
        protocol: this.protocol,
        org: this.room.key.organizationId,
      });
    }
    this.onClosed();
    this.socket.log.debug({ closeCode: code }, 'connection closed');
  }
}
