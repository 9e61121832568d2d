import { closeFleet, connectFleet, type FleetMember } from '../clients/yjs-fleet.js';
import { waitUntil } from '../lib/deadline.js';
import type { SystemUnderTest } from '../lib/system-under-test.js';

/** Longest wait for the probe's update to cross from one node to another, in milliseconds. */
const PROBE_TIMEOUT_MS = 10_000;

/**
 * Connects one y-websocket client to each of the first two nodes, in one room, and has the first
 * type a word. Returns a problem description when the second never sees it, undefined when the
 * nodes share the room.
 */
export async function probeCrossNode(system: SystemUnderTest): Promise<string | undefined> {
  let members: FleetMember[];
  try {
    members = await connectFleet({
      system,
      protocol: 'yjs',
      roomIds: [`${system.roomPrefix}-probe`],
      count: 2,
      roomOf: () => 0,
    });
  } catch (error) {
    return `could not connect a client to each node: ${(error as Error).message}`;
  }

  try {
    members[0]!.client.doc.getText('probe').insert(0, 'hello');
    const arrived = await waitUntil(
      () => members[1]!.client.doc.getText('probe').toString() === 'hello',
      { timeoutMs: PROBE_TIMEOUT_MS, what: 'the probe update', soft: true },
    );
    if (arrived) return undefined;
    return (
      `an update typed on node 0 never reached node 1 within ${PROBE_TIMEOUT_MS} ms: the nodes ` +
      'started with REDIS_URL but do not share rooms (is the cluster bus implemented yet?)'
    );
  } finally {
    closeFleet(members);
  }
}
