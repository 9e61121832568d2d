import * as Y from 'yjs';

import type { DeliveryTracker } from '../clients/delivery-tracker.js';
import type { FleetMember } from '../clients/yjs-fleet.js';

/** Name of the shared Y.Text every client edits. */
export const TEXT_NAME = 'text';
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz';

/** Inserts a few random letters at a random place of the doc's text, as a person typing. */
export function typeSomething(doc: Y.Doc, length = 6): void {
  const text = doc.getText(TEXT_NAME);
  let insert = '';
  for (let index = 0; index < length; index++) insert += ALPHABET[Math.floor(Math.random() * 26)];
  text.insert(Math.floor(Math.random() * (text.length + 1)), insert);
}

/**
 * Sends one edit from `member` and records it with the tracker. The clock before the change is
 * where the update's range starts, which is how receivers' arrivals are matched to it.
 */
export function sendEdit(member: FleetMember, tracker: DeliveryTracker): void {
  const doc = member.client.doc;
  tracker.recordSend(member.clientId, Y.getState(doc.store, doc.clientID), performance.now());
  typeSomething(doc);
}
