/**
 * Real `@liveblocks/client` rooms talking to a {@link StorageTree} over in-process sockets whose
 * delivery the test controls message by message, in both directions. This makes every
 * interleaving of concurrent edits reproducible without a gateway: the server side here does
 * what a room must do with Storage messages (answer FETCH_STORAGE with the v8 stream, apply
 * UPDATE_STORAGE through the tree and route its replies) and nothing else.
 */
import { createClient, type Client, type LsonObject, type Room } from '@liveblocks/client';
import { vi } from 'vitest';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

type AnyRoom = Room<never, LsonObject, never, never, never>;
type Listener = (event: unknown) => void;

const ROOM_ID = 'simulated-room';
const SERVER_CHUNK_SIZE = 1000;

/**
 * Whether the client handles what its current connection delivers. After connecting, a client
 * holds incoming frames until its next timer tick; the room state it then handles first names
 * the connection's actor.
 */
function isProcessing(user: SimulatedUser, connection: SimulatedConnection): boolean {
  return (
    user.room.getStatus() === 'connected' && user.room.getSelf()?.connectionId === connection.actor
  );
}

/** The client's side of one in-process socket. */
class SimulatedSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;

  readyState = SimulatedSocket.CONNECTING;
  readonly #listeners = new Map<string, Set<Listener>>();
  connection: SimulatedConnection | null = null;

  addEventListener(type: string, listener: Listener): void {
    let set = this.#listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(type, set);
    }
    set.add(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    this.#listeners.get(type)?.delete(listener);
  }

  send(data: string): void {
    if (this.readyState !== SimulatedSocket.OPEN || this.connection === null) {
      return;
    }
    if (data === 'ping') {
      this.emit('message', { data: 'pong' });
      return;
    }
    this.connection.toServer.push(data);
  }

  close(): void {
    if (this.readyState === SimulatedSocket.CLOSED) {
      return;
    }
    this.connection?.drop();
    this.readyState = SimulatedSocket.CLOSED;
    this.emit('close', { code: 1000, reason: '', wasClean: true });
  }

  emit(type: string, event: unknown): void {
    for (const listener of [...(this.#listeners.get(type) ?? [])]) {
      listener(event);
    }
  }
}

/** The server's side of one socket: two queues of frames not delivered yet. */
export class SimulatedConnection {
  readonly toServer: string[] = [];
  readonly toClient: string[] = [];
  open = true;
  /** Every frame delivered on this connection, in order, for diagnostics. */
  readonly history: string[] = [];
  /** Whether the server has answered a FETCH_STORAGE on this connection. */
  storageSent = false;

  constructor(
    readonly actor: number,
    readonly socket: SimulatedSocket,
  ) {}

  drop(): void {
    this.open = false;
    this.toServer.length = 0;
    this.toClient.length = 0;
  }
}

/** One simulated user. */
export interface SimulatedUser {
  readonly client: Client;
  readonly room: AnyRoom;
  readonly leave: () => void;
  /** The user's current connection, replaced on every reconnection. */
  connection(): SimulatedConnection | undefined;
}

/** A room on the in-process server, with its users. */
export class Simulation {
  tree: StorageTree;
  readonly users: SimulatedUser[] = [];
  /** Errors clients threw while handling frames; a correct server causes none. */
  readonly clientErrors: string[] = [];
  readonly #connections: SimulatedConnection[] = [];
  readonly #socketsOf = new Map<SimulatedSocket, number>();
  #nextActor = 0;
  #tokenCount = 0;

  constructor(tree: StorageTree = StorageTree.empty()) {
    this.tree = tree;
  }

  /** Adds a user, connects it and waits until its storage is loaded. */
  async join(initialStorage?: LsonObject): Promise<SimulatedUser> {
    const index = this.users.length;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const simulation = this;
    class UserSocket extends SimulatedSocket {
      constructor(url: string) {
        super();
        // The client also opens AI sockets (/ai/v7) with the same polyfill; leave them unanswered.
        if (new URL(url).pathname === '/v8') {
          simulation.#connect(this, index);
        }
      }
    }

    const client = createClient({
      baseUrl: 'http://localhost:1',
      throttle: 16,
      __DANGEROUSLY_disableThrottling: true,
      polyfills: { WebSocket: UserSocket as never },
      authEndpoint: async () => ({ token: this.#token(index) }),
    } as never);
    const { room, leave } = client.enterRoom(ROOM_ID, {
      initialPresence: {},
      initialStorage: initialStorage ?? {},
    } as never) as unknown as { room: AnyRoom; leave: () => void };

    const user: SimulatedUser = {
      client,
      room,
      leave,
      connection: () => this.#connections.findLast((c) => this.#socketsOf.get(c.socket) === index),
    };
    this.users.push(user);
    await this.until(() => {
      while (this.deliverToServer(user) || this.deliverToClient(user)) {
        // Joining exchanges this user's frames only; other users' frames stay queued.
      }
      return room.getStorageSnapshot() !== null;
    });
    return user;
  }

  /** Delivers the oldest frame a user sent to the server. Returns false when none was waiting. */
  deliverToServer(user: SimulatedUser): boolean {
    const connection = user.connection();
    const frame = connection?.toServer.shift();
    if (connection === undefined || frame === undefined) {
      return false;
    }
    connection.history.push(`→ ${frame}`);
    this.#serve(connection, frame);
    return true;
  }

  /** Delivers the oldest frame the server sent a user. Returns false when none was waiting. */
  deliverToClient(user: SimulatedUser): boolean {
    const connection = user.connection();
    const frame = connection?.toClient.shift();
    if (connection === undefined || frame === undefined) {
      return false;
    }
    connection.history.push(`← ${frame}`);
    try {
      connection.socket.emit('message', { data: frame });
    } catch (error) {
      // A client that throws while handling a frame has been sent something it cannot take.
      this.clientErrors.push(`actor ${connection.actor}: ${String(error)} while handling ${frame}`);
    }
    return true;
  }

  /**
   * Replaces the storage outside the op log, as a REST write does: every connection gets the
   * ops that turn the old tree into the new one.
   */
  replaceStorage(tree: StorageTree): void {
    const ops = this.tree.diffOps(tree);
    this.tree = tree;
    if (ops.length === 0) {
      return;
    }
    const frame = JSON.stringify({ type: 201, ops });
    for (const connection of this.#connections) {
      if (connection.open) {
        connection.toClient.push(frame);
      }
    }
  }

  /** Cuts a user's socket (frames in flight are lost); the client reconnects by itself. */
  disconnect(user: SimulatedUser): void {
    const connection = user.connection();
    if (connection === undefined || !connection.open) {
      return;
    }
    connection.drop();
    connection.socket.readyState = SimulatedSocket.CLOSED;
    // 1006 (abnormal closure) makes the client retry after its shortest backoff.
    connection.socket.emit('close', { code: 1006, reason: 'simulated loss', wasClean: false });
  }

  /**
   * Waits until a user's client has reconnected and sent its first frame (its storage fetch),
   * so that what happens next does not depend on timers.
   */
  async reconnected(user: SimulatedUser): Promise<void> {
    await this.until(() => {
      const connection = user.connection();
      return (
        connection?.open === true &&
        isProcessing(user, connection) &&
        connection.toServer.length > 0
      );
    });
  }

  /** Delivers everything in both directions until every user is synchronized. */
  async settle(): Promise<void> {
    await this.until(() => {
      let moved = true;
      while (moved) {
        moved = false;
        for (const user of this.users) {
          while (this.deliverToServer(user)) {
            moved = true;
          }
          while (this.deliverToClient(user)) {
            moved = true;
          }
        }
      }
      return this.users.every((user) => {
        const connection = user.connection();
        return (
          connection?.open === true &&
          isProcessing(user, connection) &&
          connection.storageSent &&
          connection.toServer.length === 0 &&
          connection.toClient.length === 0 &&
          user.room.getStorageStatus() === 'synchronized'
        );
      });
    });
  }

  /** Polls `condition`, letting the clients' timers and promises run in between. */
  async until(condition: () => boolean): Promise<void> {
    await vi.waitFor(
      () => {
        if (!condition()) {
          throw new Error('simulation has not reached the expected state yet');
        }
      },
      { timeout: 10_000, interval: 5 },
    );
  }

  /** The frames of every connection a user had, for a failure message. */
  historyOf(user: SimulatedUser): string {
    const index = this.users.indexOf(user);
    return this.#connections
      .filter((connection) => this.#socketsOf.get(connection.socket) === index)
      .map((connection) => [`actor ${connection.actor}:`, ...connection.history].join('\n'))
      .join('\n');
  }

  /** Leaves every room. */
  close(): void {
    for (const user of this.users) {
      user.leave();
    }
  }

  #token(index: number): string {
    const now = Math.floor(Date.now() / 1000);
    const payload = {
      k: 'acc',
      pid: 'simulation',
      uid: `user-${index}`,
      perms: { [ROOM_ID]: ['room:write'] },
      iat: now,
      exp: now + 3600,
      jti: `t${this.#tokenCount++}`,
    };
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
  }

  #connect(socket: SimulatedSocket, index: number): void {
    const connection = new SimulatedConnection(this.#nextActor++, socket);

    socket.connection = connection;
    this.#socketsOf.set(socket, index);
    this.#connections.push(connection);
    setTimeout(() => {
      if (!connection.open) {
        return;
      }
      socket.readyState = SimulatedSocket.OPEN;
      socket.emit('open', {});
      // The room state comes first: the client counts as connected only once it has it.
      const roomState = {
        type: 104,
        actor: connection.actor,
        nonce: `nonce-${connection.actor}`,
        scopes: ['room:write'],
        users: {},
        meta: {},
      };
      connection.history.push(`← ${JSON.stringify(roomState)}`);
      socket.emit('message', { data: JSON.stringify(roomState) });
    }, 0);
  }

  #serve(connection: SimulatedConnection, frame: string): void {
    const messages = JSON.parse(frame) as Array<{ type: number; ops?: unknown }>;
    for (const message of messages) {
      if (message.type === 200) {
        connection.storageSent = true;
        const nodes = [...this.tree.compactNodes()];
        for (let i = 0; i < nodes.length; i += SERVER_CHUNK_SIZE) {
          connection.toClient.push(
            JSON.stringify({ type: 210, nodes: nodes.slice(i, i + SERVER_CHUNK_SIZE) }),
          );
        }
        connection.toClient.push(JSON.stringify({ type: 211 }));
        continue;
      }
      if (message.type !== 201) {
        continue;
      }
      const result = this.tree.apply(message.ops, { actor: connection.actor });
      if (result.toSender.length > 0) {
        connection.toClient.push(JSON.stringify({ type: 201, ops: result.toSender }));
      }
      if (result.rejected !== null) {
        connection.toClient.push(JSON.stringify({ type: 299, ...result.rejected }));
      }
      if (result.toOthers.length > 0) {
        const frameForOthers = JSON.stringify({ type: 201, ops: result.toOthers });
        for (const other of this.#connections) {
          if (other !== connection && other.open) {
            other.toClient.push(frameForOthers);
          }
        }
      }
    }
  }
}
