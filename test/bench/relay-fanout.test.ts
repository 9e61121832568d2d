import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { DeliveryTracker } from '../../bench/clients/delivery-tracker.js';
import {
  closeFleet,
  connectFleet,
  divergentRooms,
  type FleetMember,
} from '../../bench/clients/yjs-fleet.js';
import type { Protocol } from '../../bench/clients/yjs-socket-client.js';
import { startRelay, type SystemUnderTest } from '../../bench/lib/system-under-test.js';
import { sendEdit, TEXT_NAME } from '../../bench/scenarios/text-edits.js';

describe('bench clients over the reference relay', () => {
  let relay: SystemUnderTest;
  beforeAll(async () => {
    relay = await startRelay();
  });
  afterAll(() => relay.stop());

  it.each<Protocol>(['yjs', 'liveblocks'])(
    'delivers every %s edit to the other clients of the room only, and they converge',
    async (protocol) => {
      const tracker = new DeliveryTracker();
      const members: FleetMember[] = await connectFleet({
        system: relay,
        protocol,
        roomIds: [`${relay.roomPrefix}-${protocol}-a`, `${relay.roomPrefix}-${protocol}-b`],
        count: 6,
        roomOf: (index) => Math.floor(index / 3),
        onRemoteUpdate: (member, update, at) =>
          tracker.recordArrival(member.clientId, member.node, update, at),
      });
      try {
        for (const member of members) tracker.addSender(member.clientId, member.node, 2);
        for (const member of members) sendEdit(member, tracker);

        await vi.waitFor(() => expect(tracker.delivered).toBe(12), { timeout: 10_000 });
        expect(tracker.unmatched).toBe(0);
        expect(divergentRooms(members, TEXT_NAME)).toEqual([]);
        expect(members[0]!.client.doc.getText(TEXT_NAME).length).toBe(18);
      } finally {
        closeFleet(members);
      }
    },
  );

  it('samples the relay process CPU and memory', () => {
    const sample = relay.sampler.read();

    expect(sample.total.rssKb).toBeGreaterThan(10_000);
    expect(sample.byLabel.relay).toBeDefined();
  });
});
