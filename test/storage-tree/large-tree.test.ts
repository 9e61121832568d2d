import { describe, expect, it } from 'vitest';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

const ITEMS = 12_500;

/** 62,502 nodes: a list of LiveObjects, each holding a LiveList of three registers. */
function largeTree(): StorageTree {
  let clock = 0;
  const items = Array.from({ length: ITEMS }, (_, i) => ({
    liveblocksType: 'LiveObject',
    data: { i, label: `item ${i}`, tags: { liveblocksType: 'LiveList', data: ['a', 'b', i] } },
  }));
  return StorageTree.fromPlainLson(
    { liveblocksType: 'LiveObject', data: { items: { liveblocksType: 'LiveList', data: items } } },
    () => `0:${clock++}`,
  );
}

describe('a tree of more than 50,000 nodes', () => {
  it('serializes, streams and rebuilds to the same tree', () => {
    const tree = largeTree();

    const items = tree.serialize();
    const nodes = [...tree.compactNodes()];
    const rebuilt = StorageTree.fromSerialized(items);

    expect(tree.nodeCount).toBe(2 + ITEMS * 5);
    expect(items).toHaveLength(tree.nodeCount);
    expect(nodes).toHaveLength(tree.nodeCount);
    expect(rebuilt.serialize()).toEqual(items);
    const json = rebuilt.toJson() as { items: Array<{ i: number; tags: unknown[] }> };
    expect(json.items).toHaveLength(ITEMS);
    expect(json.items[ITEMS - 1]).toEqual({
      i: ITEMS - 1,
      label: `item ${ITEMS - 1}`,
      tags: ['a', 'b', ITEMS - 1],
    });
  });

  it('keeps applying ops at the end of a long list quickly enough to stay correct', () => {
    const tree = largeTree();
    const listId = tree.serialize()[1]?.[0] as string;

    const result = tree.apply(
      Array.from({ length: 1000 }, (_, i) => ({
        type: 8,
        id: `1:${i}`,
        opId: `1:${i}`,
        parentId: listId,
        parentKey: '!',
        data: i,
        intent: 'push',
      })),
      { actor: 1 },
    );

    expect(result.rejected).toBeNull();
    expect((tree.toJson() as { items: unknown[] }).items.slice(-2)).toEqual([998, 999]);
  });
});
