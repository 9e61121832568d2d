import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';

import { YjsDocuments } from '../../src/rooms/yjs-documents.js';

function update(text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(doc);
}

function textOf(state: Uint8Array, v2: boolean): string {
  const doc = new Y.Doc();
  if (v2) Y.applyUpdateV2(doc, state);
  else Y.applyUpdate(doc, state);
  return doc.getText('t').toString();
}

describe('YjsDocuments', () => {
  it('encodes the whole document once until it changes, for no vector and an empty one', () => {
    const documents = new YjsDocuments();
    documents.apply(null, update('hello'), false);

    const whole = documents.diff(null, undefined, false);
    expect(documents.diff(null, Y.encodeStateVector(new Y.Doc()), false)).toBe(whole);
    expect(textOf(whole, false)).toBe('hello');
    expect(textOf(documents.diff(null, undefined, true), true)).toBe('hello');

    documents.apply(null, update('bye '), false);
    const after = documents.diff(null, undefined, false);
    expect(after).not.toBe(whole);
    expect(textOf(after, false)).toHaveLength('hello'.length + 'bye '.length);
  });

  it('keeps a cached value until the document changes, per document', () => {
    const documents = new YjsDocuments();
    documents.apply(null, update('a'), false);
    documents.apply('sub', update('b'), false);
    const root = documents.cached(null, 'frame', () => ({ built: 1 }));
    const sub = documents.cached('sub', 'frame', () => ({ built: 2 }));

    documents.apply('sub', update('c'), false);

    expect(documents.cached(null, 'frame', () => ({ built: 3 }))).toBe(root);
    expect(documents.cached('sub', 'frame', () => ({ built: 4 }))).not.toBe(sub);
  });

  it('gives a new snapshot hash after a change', () => {
    const documents = new YjsDocuments();
    documents.apply(null, update('a'), false);
    const before = documents.snapshotHash(null, false);

    expect(documents.snapshotHash(null, false)).toBe(before);
    documents.apply(null, update('b'), false);
    expect(documents.snapshotHash(null, false)).not.toBe(before);
  });
});
