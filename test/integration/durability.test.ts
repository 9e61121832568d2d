import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

import { makeDataDir, startChildNode, type ChildNode } from '../support/child-node.js';
import {
  CLIENT_MSG,
  EMPTY_STATE_VECTOR,
  SERVER_MSG,
  describe as describeSocket,
  fetchRoomDoc,
  fromBase64,
  liveblocksSocketUrl,
  mintIdToken,
  openRawSocket,
  restClient,
  toBase64,
  type RawSocket,
} from '../support/clients.js';

/**
 * Nothing acknowledged is lost when a node dies: writers stream Yjs updates into a node running
 * in a child process, the process is killed with SIGKILL while writes are in flight, and a new
 * process on the same database must hold every update the old one acknowledged.
 */

const ORG = 'acme';
const ROOM = 'durable-room';
const WRITERS = 3;
/** Updates each writer keeps in flight before it waits for acknowledgements. */
const WINDOW = 8;
/** Acknowledged updates after which the node is killed, per round. */
const ACKS_BEFORE_KILL = 150;
/** Small, so that snapshots and log trims happen while the node is being killed. */
const NODE_ENV = { SNAPSHOT_EVERY_ENTRIES: '37' };

describe('durability across SIGKILL', () => {
  it(
    'keeps every acknowledged Yjs update when the node is killed mid-write, twice',
    { timeout: 90_000 },
    async () => {
      const dataDir = makeDataDir();
      let node = await startChildNode(dataDir, NODE_ENV);
      await restClient(node).createRoom(ROOM, {
        defaultAccesses: ['room:write'],
        organizationId: ORG,
      });

      const acked = new Set<string>();
      const actors: number[] = [];
      for (const round of [1, 2]) {
        const {
          acked: roundAcked,
          inFlight,
          actors: roundActors,
        } = await writeUntilKilled(node, `r${round}`);
        actors.push(...roundActors);
        for (const key of roundAcked) acked.add(key);
        expect(roundAcked.size).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL);
        // The kill must land on writes in flight, or the test proves less than it says.
        expect(inFlight).toBeGreaterThan(0);

        node = await startChildNode(dataDir, NODE_ENV);
        const stored = (await fetchRoomDoc(node, ROOM)).getMap('acked');
        const missing = [...acked].filter((key) => !stored.has(key));
        expect(missing, `lost after round ${round}`).toEqual([]);
      }

      const fresh = openRawSocket(
        liveblocksSocketUrl(
          node,
          '/v8',
          ROOM,
          await mintIdToken(node, 'reader', { organizationId: ORG }),
        ),
      );
      const state = await fresh.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
      // Actor ids survive restarts too: Storage node ids embed them.
      expect(new Set(actors).size).toBe(actors.length);
      expect(state.actor as number).toBeGreaterThan(Math.max(...actors));
      fresh.sendMessages({ type: CLIENT_MSG.FETCH_YDOC, vector: EMPTY_STATE_VECTOR });
      const reply = await fresh.waitForMessage((m) => m.type === SERVER_MSG.UPDATE_YDOC);
      const served = new Y.Doc();
      Y.applyUpdate(served, fromBase64(reply.update as string));
      const servedKeys = served.getMap('acked');
      expect([...acked].filter((key) => !servedKeys.has(key))).toEqual([]);
    },
  );
});

/**
 * Streams updates from several raw /v8 sockets, each writing its own keys with a window of
 * unacknowledged updates, and SIGKILLs the node once enough were acknowledged. Returns the keys
 * of every update the server sent back to any client before it died (the acknowledged ones)
 * and how many updates were sent but not yet acknowledged when the kill was decided.
 */
async function writeUntilKilled(
  node: ChildNode,
  round: string,
): Promise<{ acked: Set<string>; inFlight: number; actors: number[] }> {
  const acked = new Set<string>();
  const actors: number[] = [];
  let sentTotal = 0;
  let inFlight = 0;
  const sockets: RawSocket[] = [];
  let killed = false;
  let killing: Promise<void> | undefined;

  for (let w = 0; w < WRITERS; w++) {
    const token = await mintIdToken(node, `writer-${w}`, { organizationId: ORG });
    const socket = openRawSocket(liveblocksSocketUrl(node, '/v8', ROOM, token));
    const state = await socket.waitForMessage((m) => m.type === SERVER_MSG.ROOM_STATE);
    actors.push(state.actor as number);
    sockets.push(socket);
  }

  await new Promise<void>((resolve, reject) => {
    sockets.forEach((socket, w) => {
      let sent = 0;
      let ownAcks = 0;
      const send = (): boolean => {
        if (killed || socket.ws.readyState !== socket.ws.OPEN) return false;
        // A fresh document per update: every update stands alone, so each key's presence
        // afterwards depends on that update only.
        const doc = new Y.Doc();
        doc.getMap('acked').set(`${round}-w${w}-${sent++}`, Date.now());
        sentTotal++;
        socket.sendMessages({
          type: CLIENT_MSG.UPDATE_YDOC,
          update: toBase64(Y.encodeStateAsUpdate(doc)),
        });
        return true;
      };

      socket.ws.on('message', (data: Buffer, isBinary: boolean) => {
        // Counted even after the kill decision: whatever the server sent was acknowledged.
        if (isBinary) return;
        const text = data.toString('utf8');
        if (text === 'pong') return;
        const parsed = JSON.parse(text) as { type: number; update?: string; stateVector?: unknown };
        for (const message of Array.isArray(parsed) ? parsed : [parsed]) {
          if (message.type !== SERVER_MSG.UPDATE_YDOC || typeof message.update !== 'string')
            continue;

          const seen = new Y.Doc();
          Y.applyUpdate(seen, fromBase64(message.update));
          for (const key of seen.getMap('acked').keys()) {
            acked.add(key);
            if (key.startsWith(`${round}-w${w}-`)) ownAcks++;
          }
        }
        if (killed) return;
        while (sent - ownAcks < WINDOW && send()) {
          // Refill the window.
        }
        if (acked.size >= ACKS_BEFORE_KILL && !killing) {
          killed = true;
          inFlight = sentTotal - acked.size;
          killing = node.kill('SIGKILL').then(resolve, reject);
        }
      });
      socket.ws.on('close', () => {
        if (!killed)
          reject(new Error(`writer ${w} closed before the kill: ${describeSocket(socket)}`));
      });
      for (let i = 0; i < WINDOW; i++) send();
    });
  });
  return { acked, inFlight, actors };
}
