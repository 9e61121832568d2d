import * as Y from 'yjs';

import { mapWithLimit } from '../lib/deadline.js';
import type { Progress } from '../lib/progress.js';
import type { SystemUnderTest } from '../lib/system-under-test.js';
import { TokenPool } from '../lib/tokens.js';
import { createYjsClient } from './create-client.js';
import type { Protocol, YjsSocketClient } from './yjs-socket-client.js';

/** Handshakes in flight at once: enough to fill the server, few enough not to time out. */
const CONNECT_CONCURRENCY = 32;
/** Longest wait for one client to connect and sync, in milliseconds. */
const CONNECT_TIMEOUT_MS = 30_000;
/** Distinct users among the clients (tokens are shared beyond that). */
const DISTINCT_USERS = 64;

/** One client of a fleet and where it sits. */
export interface FleetMember {
  client: YjsSocketClient;
  /** Position in the fleet, from 0. */
  index: number;
  /** Room index, from 0. */
  room: number;
  /** Index of the node (URL) it is connected to. */
  node: number;
  /** Its Y.Doc's clientID: `firstClientId + index`, unique in the run. */
  clientId: number;
  /** Milliseconds from opening the socket to the arrival of the sync answer. */
  connectMs: number;
}

/** Options of {@link connectFleet}. */
export interface FleetOptions {
  system: SystemUnderTest;
  protocol: Protocol;
  /** Room ids; client `i` joins `roomIds[roomOf(i)]`. */
  roomIds: readonly string[];
  /** Clients in all. */
  count: number;
  /** Room index of client `i`. */
  roomOf: (index: number) => number;
  /** Called for every update a client receives after its sync. */
  onRemoteUpdate?: (member: FleetMember, update: Uint8Array, arrivedAt: number) => void;
  /** Apply received updates to each client's doc (or to client `index`'s). @default true */
  applyRemote?: boolean | ((index: number) => boolean);
  /**
   * clientID of the first client; the others follow. Fleets of one room must not overlap, or
   * Yjs would see two writers with one id. @default 1
   */
  firstClientId?: number;
  progress?: Progress;
  /** Shared token pool; one is made when absent. */
  tokens?: TokenPool;
}

/**
 * Connects `count` lightweight Yjs clients, spread round-robin over the system's nodes, and
 * resolves once every one of them is synced. On failure, closes those it opened and rejects.
 */
export async function connectFleet(options: FleetOptions): Promise<FleetMember[]> {
  const { system } = options;
  const tokens =
    options.tokens ?? new TokenPool((node, user) => system.token(node, user), DISTINCT_USERS);
  const members: FleetMember[] = [];
  let synced = 0;

  try {
    await mapWithLimit(
      Array.from({ length: options.count }, (_, index) => index),
      CONNECT_CONCURRENCY,
      async (index) => {
        const node = index % system.urls.length;
        const room = options.roomOf(index);
        const clientId = (options.firstClientId ?? 1) + index;
        const doc = new Y.Doc({ gc: true });
        doc.clientID = clientId;
        const member = { index, room, node, clientId, connectMs: 0 } as FleetMember;
        const apply = options.applyRemote;
        member.client = createYjsClient(options.protocol, {
          baseUrl: system.urls[node]!,
          roomId: options.roomIds[room]!,
          token: await tokens.get(node, index),
          relay: system.kind === 'relay',
          doc,
          applyRemote: typeof apply === 'function' ? apply(index) : apply,
          onRemoteUpdate: options.onRemoteUpdate
            ? (update, arrivedAt) => options.onRemoteUpdate!(member, update, arrivedAt)
            : undefined,
          connectTimeoutMs: CONNECT_TIMEOUT_MS,
        });
        members.push(member);

        const connectingAt = performance.now();
        await member.client.connect();
        member.connectMs = member.client.syncArrivedAt - connectingAt;
        synced++;
        options.progress?.update({
          fraction: synced / options.count,
          facts: { synced: `${synced}/${options.count}` },
        });
        const failure = system.failure();
        if (failure) throw new Error(failure);
      },
    );
  } catch (error) {
    closeFleet(members);
    throw error;
  }
  return members.sort((a, b) => a.index - b.index);
}

/** Closes every client of a fleet. */
export function closeFleet(members: readonly FleetMember[]): void {
  for (const member of members) member.client.close();
}

/**
 * Whether every client of each room holds the same text (`Y.Text` named `name`). Returns the
 * rooms that differ, with their distinct lengths, for the check's detail.
 */
export function divergentRooms(members: readonly FleetMember[], name: string): string[] {
  const byRoom = new Map<number, Set<string>>();
  for (const member of members) {
    const texts = byRoom.get(member.room) ?? new Set<string>();
    texts.add(member.client.doc.getText(name).toString());
    byRoom.set(member.room, texts);
  }
  const divergent: string[] = [];
  for (const [room, texts] of byRoom) {
    if (texts.size > 1)
      divergent.push(`room ${room}: lengths ${[...texts].map((t) => t.length).join('/')}`);
  }
  return divergent;
}
