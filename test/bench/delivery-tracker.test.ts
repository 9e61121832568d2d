import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

import { DeliveryTracker } from '../../bench/clients/delivery-tracker.js';

/** A doc with a fixed clientID whose updates are collected as they happen. */
function writer(clientId: number) {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  const updates: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => updates.push(update));
  const type = (tracker: DeliveryTracker, at: number) => {
    tracker.recordSend(clientId, Y.getState(doc.store, clientId), at);
    doc.getText('text').insert(0, 'abc');
    return updates.at(-1)!;
  };
  return { doc, updates, type };
}

describe('DeliveryTracker', () => {
  it('matches each arrival to its send and measures the latency per receiver', () => {
    const tracker = new DeliveryTracker();
    const a = writer(1);
    tracker.addSender(1, 0, 2);

    const update = a.type(tracker, 100);
    tracker.recordArrival(2, 0, update, 105);
    tracker.recordArrival(3, 1, update, 110);

    expect(tracker.delivered).toBe(2);
    expect(tracker.ratio()).toBe(1);
    expect(tracker.sameNode.summary().max).toBe(5);
    expect(tracker.crossNode.summary().max).toBe(10);
  });

  it('counts every update covered by a merged update from the server', () => {
    const tracker = new DeliveryTracker();
    const a = writer(1);
    tracker.addSender(1, 0, 1);

    a.type(tracker, 0);
    a.type(tracker, 10);
    a.type(tracker, 20);
    tracker.recordArrival(2, 0, Y.mergeUpdates(a.updates), 30);

    expect(tracker.delivered).toBe(3);
    expect(tracker.all.summary()).toMatchObject({ min: 10, max: 30 });
  });

  it('ignores a sender’s own echo and counts a duplicate only once', () => {
    const tracker = new DeliveryTracker();
    const a = writer(1);
    tracker.addSender(1, 0, 1);

    const update = a.type(tracker, 0);
    tracker.recordArrival(1, 0, update, 1);
    tracker.recordArrival(2, 0, update, 2);
    tracker.recordArrival(2, 0, update, 3);

    expect(tracker.delivered).toBe(1);
  });

  it('reports an update as fully delivered once every receiver has it', () => {
    const done: number[] = [];
    const tracker = new DeliveryTracker((sender) => done.push(sender));
    const a = writer(7);
    tracker.addSender(7, 0, 2);

    const update = a.type(tracker, 0);
    tracker.recordArrival(8, 0, update, 1);
    expect(done).toEqual([]);
    tracker.recordArrival(9, 0, update, 2);
    expect(done).toEqual([7]);
  });

  it('shows a missing delivery in the ratio', () => {
    const tracker = new DeliveryTracker();
    const a = writer(1);
    tracker.addSender(1, 0, 2);

    tracker.recordArrival(2, 0, a.type(tracker, 0), 1);

    expect(tracker.ratio()).toBe(0.5);
  });
});
