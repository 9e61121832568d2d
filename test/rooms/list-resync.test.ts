import { describe, expect, it } from 'vitest';

import { listResyncOps } from '../../src/rooms/list-resync.js';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

/** root.list = [a, {b: [c]}] with ids of actor 1, and a map beside it. */
function tree(): StorageTree {
  const built = StorageTree.empty();
  built.apply(
    [
      { type: 2, id: '1:0', parentId: 'root', parentKey: 'list', opId: '1:100' },
      { type: 8, id: '1:1', parentId: '1:0', parentKey: '!', data: 'a', opId: '1:101' },
      { type: 4, id: '1:2', parentId: '1:0', parentKey: '"', data: { x: 1 }, opId: '1:102' },
      { type: 2, id: '1:3', parentId: '1:2', parentKey: 'b', opId: '1:103' },
      { type: 8, id: '1:4', parentId: '1:3', parentKey: '!', data: 'c', opId: '1:104' },
      { type: 7, id: '1:5', parentId: 'root', parentKey: 'map', opId: '1:105' },
    ],
    { actor: 1 },
  );
  return built;
}

const set = (opId: string, parentId = '1:0') => ({
  type: 8,
  id: '9:0',
  parentId,
  parentKey: '!',
  data: 'z',
  intent: 'set',
  opId,
});

describe('listResyncOps', () => {
  it('rebuilds a list, with every descendant, when the tree ignored a set create in it', () => {
    const ops = listResyncOps(tree(), [set('9:1')], [{ type: 5, id: 'ACK', opId: '9:1' }]);

    expect(ops).toEqual([
      { type: 5, id: '1:0' },
      { type: 2, id: '1:0', parentId: 'root', parentKey: 'list' },
      { type: 8, id: '1:1', parentId: '1:0', parentKey: '!', data: 'a' },
      { type: 4, id: '1:2', parentId: '1:0', parentKey: '"', data: { x: 1 } },
      { type: 2, id: '1:3', parentId: '1:2', parentKey: 'b' },
      { type: 8, id: '1:4', parentId: '1:3', parentKey: '!', data: 'c' },
    ]);
  });

  it('rebuilds a nested list alone and an outer one once with what it holds', () => {
    const inner = listResyncOps(tree(), [set('9:1', '1:3')], [{ type: 5, id: 'ACK', opId: '9:1' }]);
    const both = listResyncOps(
      tree(),
      [set('9:1', '1:3'), set('9:2')],
      [
        { type: 5, id: 'ACK', opId: '9:1' },
        { type: 5, id: 'ACK', opId: '9:2' },
      ],
    );

    expect(inner).toEqual([
      { type: 5, id: '1:3' },
      { type: 2, id: '1:3', parentId: '1:2', parentKey: 'b' },
      { type: 8, id: '1:4', parentId: '1:3', parentKey: '!', data: 'c' },
    ]);
    expect(both.filter((op) => (op as { type: number }).type === 5)).toEqual([
      { type: 5, id: '1:0' },
    ]);
    expect(both).toHaveLength(6);
  });

  it('gives nothing for acknowledged sets, ignored inserts, or a parent that is no list', () => {
    const insert = { ...set('9:1'), intent: undefined };

    expect(listResyncOps(tree(), [set('9:1')], [set('9:1')])).toEqual([]);
    expect(listResyncOps(tree(), [insert], [{ type: 5, id: 'ACK', opId: '9:1' }])).toEqual([]);
    expect(
      listResyncOps(tree(), [set('9:1', '1:5')], [{ type: 5, id: 'ACK', opId: '9:1' }]),
    ).toEqual([]);
    expect(
      listResyncOps(tree(), [set('9:1', 'gone')], [{ type: 5, id: 'ACK', opId: '9:1' }]),
    ).toEqual([]);
  });
});
