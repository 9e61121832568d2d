import * as Y from 'yjs';

import { LatencyRecorder } from '../lib/latency.js';

/** One measured update: where its clock range starts, when it was sent, receivers still due. */
interface SentUpdate {
  clock: number;
  sentAt: number;
  pending: number;
}

interface Sender {
  node: number;
  receivers: number;
  updates: SentUpdate[];
  /** Per receiver: index of the first update of this sender it has not received yet. */
  cursors: Map<number, number>;
}

/**
 * Matches updates received by each client to the moment they were sent, for end-to-end latency
 * and delivery counts. Every client's Y.Doc has a small unique clientID and inserts text, so an
 * update is known by its sender's clientID and clock range (`Y.parseUpdateMeta`). That also
 * holds when a server merges several updates into one message: the range then covers them all.
 */
export class DeliveryTracker {
  /** Every delivery's latency, and split by whether sender and receiver share a node. */
  readonly all = new LatencyRecorder();
  readonly sameNode = new LatencyRecorder();
  readonly crossNode = new LatencyRecorder();
  sent = 0;
  expected = 0;
  delivered = 0;
  /** Deliveries of updates this tracker never saw sent (sent before measuring, or unknown). */
  unmatched = 0;
  private readonly senders = new Map<number, Sender>();

  /**
   * @param onFullyDelivered called when an update has reached every receiver of its room, with
   *   the sender's clientID; drives the writer's window in `hot-room`.
   */
  constructor(private readonly onFullyDelivered?: (senderClientId: number) => void) {}

  /** Declares a sending client: its node and how many other clients its room has. */
  addSender(clientId: number, node: number, receivers: number): void {
    this.senders.set(clientId, { node, receivers, updates: [], cursors: new Map() });
  }

  /** Records an update about to be sent; `clock` is the sender's clock before the change. */
  recordSend(clientId: number, clock: number, sentAt: number): void {
    const sender = this.senders.get(clientId);
    if (!sender) throw new Error(`clientID ${clientId} was not declared as a sender`);
    sender.updates.push({ clock, sentAt, pending: sender.receivers });
    this.sent++;
    this.expected += sender.receivers;
  }

  /** Records an update received by client `receiverId` (its clientID) on node `receiverNode`. */
  recordArrival(receiverId: number, receiverNode: number, update: Uint8Array, arrivedAt: number) {
    const { to } = Y.parseUpdateMeta(update);
    for (const [clientId, endClock] of to) {
      if (clientId === receiverId) continue;
      const sender = this.senders.get(clientId);
      if (!sender) {
        this.unmatched++;
        continue;
      }
      this.deliver(sender, clientId, receiverId, receiverNode, endClock, arrivedAt);
    }
  }

  /** Fraction of expected deliveries that arrived (1 when nothing was sent). */
  ratio(): number {
    return this.expected === 0 ? 1 : this.delivered / this.expected;
  }

  private deliver(
    sender: Sender,
    senderId: number,
    receiverId: number,
    receiverNode: number,
    endClock: number,
    arrivedAt: number,
  ) {
    const cross = sender.node !== receiverNode;
    let index = sender.cursors.get(receiverId) ?? 0;

    while (index < sender.updates.length && sender.updates[index]!.clock < endClock) {
      const update = sender.updates[index]!;
      const latencyMs = arrivedAt - update.sentAt;
      this.all.record(latencyMs);
      (cross ? this.crossNode : this.sameNode).record(latencyMs);
      this.delivered++;
      if (--update.pending === 0) this.onFullyDelivered?.(senderId);
      index++;
    }
    sender.cursors.set(receiverId, index);
  }
}
