import { describe, expect, it } from 'vitest';
import { OpCode } from '../../src/storage-tree/ops.js';
import { DEFAULT_STORAGE_LIMITS } from '../../src/storage-tree/storage-limits.js';
import { StorageTree, type ApplyResult } from '../../src/storage-tree/storage-tree.js';

const ACK = (opId: string) => ({ type: OpCode.DELETE_CRDT, id: 'ACK', opId });

/**
 * root: { obj: LiveObject{ v: 1, child: LiveObject{ w: 1 } }, map: LiveMap{ k: "reg" },
 *         list: LiveList["x" at "!", "y" at "#"] }
 */
function setup(): StorageTree {
  const tree = StorageTree.empty();
  const result = tree.apply(
    [
      { type: 4, id: '0:1', opId: 'o1', parentId: 'root', parentKey: 'obj', data: { v: 1 } },
      { type: 4, id: '0:2', opId: 'o2', parentId: '0:1', parentKey: 'child', data: { w: 1 } },
      { type: 7, id: '0:3', opId: 'o3', parentId: 'root', parentKey: 'map' },
      { type: 8, id: '0:4', opId: 'o4', parentId: '0:3', parentKey: 'k', data: 'reg' },
      { type: 2, id: '0:5', opId: 'o5', parentId: 'root', parentKey: 'list' },
      { type: 8, id: '0:6', opId: 'o6', parentId: '0:5', parentKey: '!', data: 'x' },
      { type: 8, id: '0:7', opId: 'o7', parentId: '0:5', parentKey: '#', data: 'y' },
    ],
    { actor: 0 },
  );
  expect(result.rejected).toBeNull();
  return tree;
}

function apply(tree: StorageTree, ops: unknown[], actor = 1): ApplyResult {
  return tree.apply(ops, { actor });
}

function positionsOf(tree: StorageTree, listId: string): Array<[string, unknown]> {
  return tree
    .serialize()
    .filter(([, node]) => 'parentId' in node && node.parentId === listId)
    .map(([id, node]) => [id, 'parentKey' in node ? node.parentKey : undefined]);
}

describe('UPDATE_OBJECT', () => {
  it('sets plain fields and acknowledges each field as a register create under the object', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: { a: 2, b: 'x' } }]);

    const field = (key: string, data: unknown) => ({
      type: OpCode.CREATE_REGISTER,
      id: `0:1|${key}`,
      parentId: '0:1',
      parentKey: key,
      data,
    });
    expect(result.toSender).toEqual([
      { ...field('a', 2), opId: '1:0' },
      { ...field('b', 'x'), opId: '1:0' },
    ]);
    expect(result.toOthers).toEqual([field('a', 2), field('b', 'x')]);
    expect(tree.toJson()).toMatchObject({ obj: { v: 1, a: 2, b: 'x', child: { w: 1 } } });
  });

  it('replaces a live child under the same key and deletes its subtree', () => {
    const tree = setup();
    const before = tree.nodeCount;

    apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: { child: 3 } }]);

    expect(tree.nodeCount).toBe(before - 1);
    expect(tree.toJson()).toMatchObject({ obj: { v: 1, child: 3 } });
    expect(tree.serialize().some(([id]) => id === '0:2')).toBe(false);
  });

  it('acknowledges an update of an object that is gone without telling anyone else', () => {
    const tree = setup();
    apply(tree, [{ type: 6, id: 'root', opId: '2:0', key: 'obj' }], 2);
    const before = tree.serialize();

    const result = apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: { a: 2 } }]);

    expect(result.toSender).toEqual([
      { type: 8, id: '0:1|a', parentId: '0:1', parentKey: 'a', data: 2, opId: '1:0' },
    ]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('changes nothing on a node that is not a LiveObject', () => {
    const tree = setup();
    const before = tree.serialize();

    const result = apply(tree, [{ type: 3, id: '0:3', opId: '1:0', data: { a: 2 } }]);

    expect(result.toOthers).toEqual([]);
    expect(result.toSender).toHaveLength(1);
    expect(tree.serialize()).toEqual(before);
  });

  it('echoes an update without fields and sends nothing to others', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: {} }]);

    expect(result.toSender).toEqual([{ type: 3, id: '0:1', opId: '1:0', data: {} }]);
    expect(result.toOthers).toEqual([]);
  });

  it('refuses an update that would make the object larger than the data limit', () => {
    const tree = setup();
    const before = tree.serialize();
    const big = 'x'.repeat(DEFAULT_STORAGE_LIMITS.maxDataBytes);

    const result = apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: { big } }]);

    expect(result.rejected?.opIds).toEqual(['1:0']);
    expect(result.rejected?.reason).toMatch(/bytes, above the limit/);
    expect(result.toSender).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('keeps the last writer of a field in log order', () => {
    const tree = setup();

    apply(tree, [{ type: 3, id: '0:1', opId: '1:0', data: { v: 'A' } }], 1);
    apply(tree, [{ type: 3, id: '0:1', opId: '2:0', data: { v: 'B' } }], 2);

    expect(tree.toJson()).toMatchObject({ obj: { v: 'B' } });
  });
});

describe('DELETE_OBJECT_KEY', () => {
  it('removes a plain field', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 6, id: '0:1', opId: '1:0', key: 'v' }]);

    expect(result.toSender).toEqual([{ type: 6, id: '0:1', key: 'v', opId: '1:0' }]);
    expect(result.toOthers).toEqual([{ type: 6, id: '0:1', key: 'v' }]);
    expect(tree.toJson()).toMatchObject({ obj: { child: { w: 1 } } });
  });

  it('removes a live child with its subtree', () => {
    const tree = setup();

    apply(tree, [{ type: 6, id: 'root', opId: '1:0', key: 'map' }]);

    expect(tree.toJson()).not.toHaveProperty('map');
    expect(tree.serialize().map(([id]) => id)).not.toContain('0:4');
  });

  it('acknowledges a missing key or object without telling anyone else', () => {
    const tree = setup();

    const missingKey = apply(tree, [{ type: 6, id: '0:1', opId: '1:0', key: 'nope' }]);
    const missingNode = apply(tree, [{ type: 6, id: '9:9', opId: '1:1', key: 'v' }]);

    expect(missingKey.toSender).toEqual([{ type: 6, id: '0:1', key: 'nope', opId: '1:0' }]);
    expect(missingKey.toOthers).toEqual([]);
    expect(missingNode.toSender).toEqual([{ type: 6, id: '9:9', key: 'v', opId: '1:1' }]);
    expect(missingNode.toOthers).toEqual([]);
  });
});

describe('DELETE_CRDT', () => {
  it('deletes a list item, a map entry and a nested object', () => {
    const tree = setup();

    const result = apply(tree, [
      { type: 5, id: '0:6', opId: '1:0' },
      { type: 5, id: '0:4', opId: '1:1' },
      { type: 5, id: '0:2', opId: '1:2' },
    ]);

    expect(result.toSender).toEqual([
      { type: 5, id: '0:6', opId: '1:0' },
      { type: 5, id: '0:4', opId: '1:1' },
      { type: 5, id: '0:2', opId: '1:2' },
    ]);
    expect(result.toOthers).toEqual([
      { type: 5, id: '0:6' },
      { type: 5, id: '0:4' },
      { type: 5, id: '0:2' },
    ]);
    expect(tree.toJson()).toEqual({ obj: { v: 1 }, map: {}, list: ['y'] });
  });

  it('deletes every node below the deleted one', () => {
    const tree = setup();

    apply(tree, [{ type: 5, id: '0:1', opId: '1:0' }]);

    expect(tree.serialize().map(([id]) => id)).toEqual(['root', '0:3', '0:4', '0:5', '0:6', '0:7']);
  });

  it('never deletes the root', () => {
    const tree = setup();
    const before = tree.serialize();

    const result = apply(tree, [{ type: 5, id: 'root', opId: '1:0' }]);

    expect(result.toSender).toEqual([ACK('1:0')]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('echoes the deletion of a node that is already gone, to the sender only', () => {
    const tree = setup();
    apply(tree, [{ type: 5, id: '0:6', opId: '2:0' }], 2);

    const result = apply(tree, [{ type: 5, id: '0:6', opId: '1:0' }]);

    expect(result.toSender).toEqual([{ type: 5, id: '0:6', opId: '1:0' }]);
    expect(result.toOthers).toEqual([]);
  });
});

describe('SET_PARENT_KEY', () => {
  it('moves an item to a free position', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 1, id: '0:6', opId: '1:0', parentKey: '$' }]);

    expect(result.toSender).toEqual([{ type: 1, id: '0:6', parentKey: '$', opId: '1:0' }]);
    expect(result.toOthers).toEqual([{ type: 1, id: '0:6', parentKey: '$' }]);
    expect(tree.toJson()).toMatchObject({ list: ['y', 'x'] });
  });

  // Observed on the Liveblocks dev server: a move to a taken position lands between it and
  // the next item, and the sender gets the fix before its corrected acknowledgement.
  it('moves to the next free position when the requested one is taken', () => {
    const tree = setup();
    apply(
      tree,
      [{ type: 8, id: '2:0', opId: '2:0', parentId: '0:5', parentKey: '%', data: 'z' }],
      2,
    );

    const result = apply(tree, [{ type: 1, id: '2:0', opId: '1:0', parentKey: '!' }]);

    expect(result.toSender).toEqual([
      { type: 1, id: '2:0', parentKey: '"' },
      { type: 1, id: '2:0', parentKey: '"', opId: '1:0' },
    ]);
    expect(result.toOthers).toEqual([{ type: 1, id: '2:0', parentKey: '"' }]);
    expect(tree.toJson()).toMatchObject({ list: ['x', 'z', 'y'] });
  });

  it('only acknowledges a move to the position the item already has', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 1, id: '0:6', opId: '1:0', parentKey: '!' }]);

    expect(result.toSender).toEqual([{ type: 1, id: '0:6', parentKey: '!', opId: '1:0' }]);
    expect(result.toOthers).toEqual([]);
  });

  it('stores a malformed position as clients read it and tells the sender', () => {
    const tree = setup();

    const result = apply(tree, [{ type: 1, id: '0:6', opId: '1:0', parentKey: '$  ' }]);

    expect(result.toSender).toEqual([
      { type: 1, id: '0:6', parentKey: '$' },
      { type: 1, id: '0:6', parentKey: '$', opId: '1:0' },
    ]);
    expect(positionsOf(tree, '0:5')).toEqual([
      ['0:7', '#'],
      ['0:6', '$'],
    ]);
  });

  it('ignores moves of unknown nodes, of the root and of nodes outside lists', () => {
    const tree = setup();
    const before = tree.serialize();

    const result = apply(tree, [
      { type: 1, id: '9:9', opId: '1:0', parentKey: '!' },
      { type: 1, id: 'root', opId: '1:1', parentKey: '!' },
      { type: 1, id: '0:1', opId: '1:2', parentKey: '!' },
      { type: 1, id: '0:4', opId: '1:3', parentKey: '!' },
    ]);

    expect(result.toSender).toEqual([ACK('1:0'), ACK('1:1'), ACK('1:2'), ACK('1:3')]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('ignores a move that arrives after the item was deleted', () => {
    const tree = setup();
    apply(tree, [{ type: 5, id: '0:6', opId: '2:0' }], 2);

    const result = apply(tree, [{ type: 1, id: '0:6', opId: '1:0', parentKey: '$' }]);

    expect(result.toSender).toEqual([ACK('1:0')]);
    expect(tree.toJson()).toMatchObject({ list: ['y'] });
  });

  it('deletes an item that a delete reaches after its move', () => {
    const tree = setup();
    apply(tree, [{ type: 1, id: '0:6', opId: '1:0', parentKey: '$' }]);

    const result = apply(tree, [{ type: 5, id: '0:6', opId: '2:0' }], 2);

    expect(result.toOthers).toEqual([{ type: 5, id: '0:6' }]);
    expect(tree.toJson()).toMatchObject({ list: ['y'] });
  });
});

describe('creates', () => {
  it('creates a LiveObject under an object key, replacing a plain field', () => {
    const tree = setup();
    const op = { type: 4, id: '1:0', parentId: '0:1', parentKey: 'v', data: { n: 1 } };

    const result = apply(tree, [{ ...op, opId: '1:0' }]);

    expect(result.toSender).toEqual([{ ...op, opId: '1:0' }]);
    expect(result.toOthers).toEqual([op]);
    expect(tree.toJson()).toMatchObject({ obj: { v: { n: 1 }, child: { w: 1 } } });
  });

  it('repeats a LiveMap create without opId after its acknowledgement', () => {
    const tree = setup();
    const op = { type: 8, id: '1:0', parentId: '0:3', parentKey: 'k2', data: 5 };

    const result = apply(tree, [{ ...op, opId: '1:0' }]);

    expect(result.toSender).toEqual([{ ...op, opId: '1:0' }, op]);
    expect(result.toOthers).toEqual([op]);
  });

  it('keeps the last of two creates at one LiveMap key and deletes the first subtree', () => {
    const tree = setup();

    apply(tree, [
      { type: 4, id: '1:0', opId: '1:0', parentId: '0:3', parentKey: 'k', data: {} },
      { type: 8, id: '1:1', opId: '1:1', parentId: '1:0', parentKey: 'inner', data: 1 },
    ]);
    apply(
      tree,
      [{ type: 8, id: '2:0', opId: '2:0', parentId: '0:3', parentKey: 'k', data: 'B' }],
      2,
    );

    expect(tree.toJson()).toMatchObject({ map: { k: 'B' } });
    expect(tree.serialize().map(([id]) => id)).not.toContain('1:1');
  });

  it('acknowledges a create whose id exists without applying or forwarding it', () => {
    const tree = setup();
    const before = tree.serialize();

    const result = apply(tree, [
      { type: 4, id: '0:1', opId: '1:0', parentId: 'root', parentKey: 'other', data: {} },
      { type: 7, id: 'root', opId: '1:1', parentId: '0:1', parentKey: 'x' },
    ]);

    expect(result.toSender).toEqual([ACK('1:0'), ACK('1:1')]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('ignores a second create of one id within a message', () => {
    const tree = setup();

    const result = apply(tree, [
      { type: 8, id: '1:0', opId: '1:0', parentId: '0:3', parentKey: 'a', data: 1 },
      { type: 8, id: '1:0', opId: '1:1', parentId: '0:3', parentKey: 'b', data: 2 },
    ]);

    expect(result.toSender.at(-1)).toEqual(ACK('1:1'));
    expect(tree.toJson()).toMatchObject({ map: { k: 'reg', a: 1 } });
  });

  it('ignores creates under unknown parents, under registers, and registers in objects', () => {
    const tree = setup();
    const before = tree.serialize();

    const result = apply(tree, [
      { type: 4, id: '1:0', opId: '1:0', parentId: '9:9', parentKey: 'a', data: {} },
      { type: 4, id: '1:1', opId: '1:1', parentId: '0:4', parentKey: 'a', data: {} },
      { type: 8, id: '1:2', opId: '1:2', parentId: '0:1', parentKey: 'a', data: 1 },
    ]);

    expect(result.toSender).toEqual([ACK('1:0'), ACK('1:1'), ACK('1:2')]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  it('ignores nested creates under a parent another client deleted first', () => {
    const tree = setup();
    apply(tree, [{ type: 6, id: '0:1', opId: '2:0', key: 'child' }], 2);

    const result = apply(tree, [
      { type: 2, id: '1:0', opId: '1:0', parentId: '0:2', parentKey: 'l' },
      { type: 8, id: '1:1', opId: '1:1', parentId: '1:0', parentKey: '!', data: 1 },
    ]);

    expect(result.toSender).toEqual([ACK('1:0'), ACK('1:1')]);
    expect(result.toOthers).toEqual([]);
  });

  it('refuses creates past the depth, node and data limits', () => {
    const limits = { ...DEFAULT_STORAGE_LIMITS, maxTreeDepth: 2, maxNodes: 4, maxDataBytes: 20 };
    const tree = StorageTree.empty(limits);
    apply(tree, [{ type: 4, id: '1:0', opId: 'a', parentId: 'root', parentKey: 'a', data: {} }]);
    apply(tree, [{ type: 4, id: '1:1', opId: 'b', parentId: '1:0', parentKey: 'b', data: {} }]);

    const tooDeep = apply(tree, [
      { type: 4, id: '1:2', opId: 'c', parentId: '1:1', parentKey: 'c', data: {} },
    ]);
    const tooBig = apply(tree, [
      {
        type: 4,
        id: '1:3',
        opId: 'd',
        parentId: 'root',
        parentKey: 'd',
        data: { s: 'x'.repeat(30) },
      },
    ]);
    apply(tree, [{ type: 7, id: '1:4', opId: 'e', parentId: 'root', parentKey: 'e' }]);
    const tooMany = apply(tree, [
      { type: 7, id: '1:5', opId: 'f', parentId: 'root', parentKey: 'f' },
    ]);

    expect(tooDeep.rejected).toEqual({ opIds: ['c'], reason: expect.stringMatching(/nest/) });
    expect(tooBig.rejected).toEqual({ opIds: ['d'], reason: expect.stringMatching(/bytes/) });
    expect(tooMany.rejected).toEqual({ opIds: ['f'], reason: expect.stringMatching(/nodes/) });
    expect(tree.nodeCount).toBe(4);
  });
});

describe('list creates', () => {
  const item = (id: string, parentKey: string, extra: object = {}) => ({
    type: 8,
    id,
    parentId: '0:5',
    parentKey,
    data: id,
    ...extra,
  });

  it('inserts at a free position as requested', () => {
    const tree = setup();

    const result = apply(tree, [{ ...item('1:0', '"'), opId: '1:0' }]);

    expect(result.toSender).toEqual([{ ...item('1:0', '"'), opId: '1:0' }]);
    expect(result.toOthers).toEqual([item('1:0', '"')]);
    expect(tree.toJson()).toMatchObject({ list: ['x', '1:0', 'y'] });
  });

  // Observed on the Liveblocks dev server: the second insert at "!" with nothing after it
  // lands at "!!", announced to its sender by a SET_PARENT_KEY before the acknowledgement.
  it('moves the later of two concurrent inserts at one position just after it', () => {
    const tree = StorageTree.empty();
    apply(tree, [{ type: 2, id: '0:0', opId: 'l', parentId: 'root', parentKey: 'list' }], 0);
    apply(tree, [{ type: 8, id: '1:0', opId: '1:0', parentId: '0:0', parentKey: '!', data: 'a' }]);

    const result = apply(
      tree,
      [{ type: 8, id: '2:0', opId: '2:0', parentId: '0:0', parentKey: '!', data: 'b' }],
      2,
    );

    const settled = { type: 8, id: '2:0', parentId: '0:0', parentKey: '!!', data: 'b' };
    expect(result.toSender).toEqual([
      { type: 1, id: '2:0', parentKey: '!!' },
      { ...settled, opId: '2:0' },
    ]);
    expect(result.toOthers).toEqual([settled]);
    expect(tree.toJson()).toEqual({ list: ['a', 'b'] });
  });

  it('places a conflicting insert between the taken position and the next item', () => {
    const tree = setup();

    const result = apply(tree, [{ ...item('1:0', '!'), opId: '1:0' }]);

    expect(result.toOthers).toEqual([item('1:0', '"')]);
    expect(tree.toJson()).toMatchObject({ list: ['x', '1:0', 'y'] });
  });

  // Observed on the Liveblocks dev server: a push whose position is no longer the end goes
  // after the last item; the intent stays on the forwarded op.
  it('appends a push after the true last item', () => {
    const tree = setup();

    const result = apply(tree, [{ ...item('1:0', '!', { intent: 'push' }), opId: '1:0' }]);

    expect(result.toSender).toEqual([
      { type: 1, id: '1:0', parentKey: '#!' },
      { ...item('1:0', '#!', { intent: 'push' }), opId: '1:0' },
    ]);
    expect(result.toOthers).toEqual([item('1:0', '#!', { intent: 'push' })]);
    expect(tree.toJson()).toMatchObject({ list: ['x', 'y', '1:0'] });
  });

  it('keeps a push position that is already past the last item', () => {
    const tree = setup();

    const result = apply(tree, [{ ...item('1:0', '~~', { intent: 'push' }), opId: '1:0' }]);

    expect(result.toSender).toEqual([{ ...item('1:0', '~~', { intent: 'push' }), opId: '1:0' }]);
  });

  it('normalizes a malformed position and tells the sender', () => {
    const tree = setup();

    const result = apply(tree, [{ ...item('1:0', '%\u00ff'), opId: '1:0' }]);

    expect(result.toSender[0]).toEqual({ type: 1, id: '1:0', parentKey: '%~' });
    expect(result.toOthers).toEqual([item('1:0', '%~')]);
  });

  it('replaces the deleted item on a set', () => {
    const tree = setup();
    const set = item('1:0', '!', { intent: 'set', deletedId: '0:6' });

    const result = apply(tree, [{ ...set, opId: '1:0' }]);

    expect(result.toSender).toEqual([{ ...set, opId: '1:0' }]);
    expect(result.toOthers).toEqual([set]);
    expect(tree.toJson()).toMatchObject({ list: ['1:0', 'y'] });
  });

  // Observed on the Liveblocks dev server: of two sets at one position the later wins, and
  // its sender first learns that the earlier item is deleted.
  it('lets the later of two concurrent sets at one position win', () => {
    const tree = setup();
    apply(tree, [{ ...item('1:0', '!', { intent: 'set', deletedId: '0:6' }), opId: '1:0' }], 1);

    const set = item('2:0', '!', { intent: 'set', deletedId: '0:6' });
    const result = apply(tree, [{ ...set, opId: '2:0' }], 2);

    expect(result.toSender).toEqual([
      { type: 5, id: '1:0' },
      { ...set, opId: '2:0' },
    ]);
    expect(result.toOthers).toEqual([{ type: 5, id: '1:0' }, set]);
    expect(tree.toJson()).toMatchObject({ list: ['2:0', 'y'] });
  });

  it('deletes the replaced item even when another client moved it away first', () => {
    const tree = setup();
    apply(tree, [{ type: 1, id: '0:6', opId: '2:0', parentKey: '$' }], 2);

    apply(tree, [{ ...item('1:0', '!', { intent: 'set', deletedId: '0:6' }), opId: '1:0' }]);

    expect(tree.toJson()).toMatchObject({ list: ['1:0', 'y'] });
  });

  it('inserts a set whose item another client deleted first', () => {
    const tree = setup();
    apply(tree, [{ type: 5, id: '0:6', opId: '2:0' }], 2);

    const result = apply(tree, [
      { ...item('1:0', '!', { intent: 'set', deletedId: '0:6' }), opId: '1:0' },
    ]);

    expect(result.toSender).toHaveLength(1);
    expect(tree.toJson()).toMatchObject({ list: ['1:0', 'y'] });
  });

  it('does not delete a deletedId that lives outside the list', () => {
    const tree = setup();

    apply(tree, [{ ...item('1:0', '%', { intent: 'set', deletedId: '0:2' }), opId: '1:0' }]);

    expect(tree.toJson()).toMatchObject({ obj: { child: { w: 1 } }, list: ['x', 'y', '1:0'] });
  });
});

describe('ops Weft does not implement', () => {
  it('refuses LiveText and LiveFile ops by name and applies the rest of the message', () => {
    const tree = setup();

    const result = apply(tree, [
      { type: 9, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 't', data: [], version: 0 },
      { type: 3, id: '0:1', opId: '1:1', data: { a: 1 } },
      { type: 10, id: '1:0', opId: '1:2', baseVersion: 0, ops: [] },
      { type: 11, id: '1:3', opId: '1:3', parentId: 'root', parentKey: 'f', data: {} },
      { type: 9, id: '1:4', opId: '1:4', parentId: 'root', parentKey: 'u', data: [], version: 0 },
    ]);

    expect(result.unsupported).toEqual(['CREATE_TEXT', 'UPDATE_TEXT', 'CREATE_FILE']);
    expect(result.rejected?.opIds).toEqual(['1:0', '1:2', '1:3', '1:4']);
    expect(result.rejected?.reason).toMatch(/CREATE_TEXT is not supported/);
    expect(result.invalid).toBeNull();
    expect(tree.toJson()).toMatchObject({ obj: { a: 1 } });
    expect(tree.toJson()).not.toHaveProperty('t');
  });
});

describe('resent creates', () => {
  const push = (id: string, opId: string) => ({
    type: 8,
    id,
    opId,
    parentId: '0:5',
    parentKey: '%',
    data: id,
    intent: 'push',
  });

  it('acknowledges a resent create of a node that still exists without applying it', () => {
    const tree = setup();
    apply(tree, [push('1:0', '1:0')]);
    const before = tree.serialize();

    const result = apply(tree, [push('1:0', '1:0')]);

    expect(result.toSender).toEqual([ACK('1:0')]);
    expect(result.toOthers).toEqual([]);
    expect(tree.serialize()).toEqual(before);
  });

  // A client resends what it holds no acknowledgement for when its storage (re)loads, also ops
  // it sent on this very connection just before; the node must not come back.
  it('does not bring back a node deleted since its create, and tells the sender to drop it', () => {
    const tree = setup();
    apply(tree, [push('3:0', '3:6')], 3);
    apply(tree, [{ type: 5, id: '3:0', opId: '3:7' }], 3);

    const result = apply(tree, [push('3:0', '3:6'), { type: 5, id: '3:0', opId: '3:7' }], 3);

    expect(result.toSender).toEqual([
      ACK('3:6'),
      { type: 5, id: '3:0' },
      { type: 5, id: '3:0', opId: '3:7' },
    ]);
    expect(result.toOthers).toEqual([]);
    expect(tree.toJson()).toMatchObject({ list: ['x', 'y'] });
  });

  it('only tells the sender of a resent set to drop its item when the item is gone', () => {
    const tree = setup();
    const set = { ...push('3:0', '3:6'), parentKey: '!', intent: 'set', deletedId: '0:6' };
    apply(tree, [set], 3);
    apply(tree, [{ type: 5, id: '3:0', opId: '2:0' }], 2);

    const result = apply(tree, [set], 3);

    expect(result.toSender).toEqual([ACK('3:6'), { type: 5, id: '3:0' }]);
    expect(tree.toJson()).toMatchObject({ list: ['y'] });
  });

  it('applies a resent create under a map key again, as a late write of the key', () => {
    const tree = setup();
    const create = { type: 8, id: '3:0', opId: '3:6', parentId: '0:3', parentKey: 'k', data: 'A' };
    apply(tree, [create], 3);
    apply(
      tree,
      [{ type: 8, id: '2:0', opId: '2:0', parentId: '0:3', parentKey: 'k', data: 'B' }],
      2,
    );

    const result = apply(tree, [create], 3);

    const { opId: _opId, ...theirs } = create;
    expect(result.toOthers).toEqual([theirs]);
    expect(tree.toJson()).toMatchObject({ map: { k: 'A' } });
  });

  it('applies an undo that re-creates a deleted node under a new opId', () => {
    const tree = setup();
    apply(tree, [push('3:0', '3:6')], 3);
    apply(tree, [{ type: 5, id: '3:0', opId: '3:7' }], 3);

    const result = apply(tree, [push('3:0', '3:8')], 3);

    expect(result.toOthers).toHaveLength(1);
    expect(tree.toJson()).toMatchObject({ list: ['x', 'y', '3:0'] });
  });

  it('ignores opIds of actors above the sender when recognising resends', () => {
    const tree = setup();
    apply(tree, [push('9:0', '9:100')], 1);

    apply(tree, [push('9:1', '9:5')], 9);

    expect(tree.toJson()).toMatchObject({ list: ['x', 'y', '9:0', '9:1'] });
  });

  it('remembers resends across a snapshot when its create clocks are saved with it', () => {
    const tree = setup();
    apply(tree, [push('3:0', '3:6')], 3);
    apply(tree, [{ type: 5, id: '3:0', opId: '3:7' }], 3);
    const restored = StorageTree.fromSerialized(
      tree.serialize(),
      DEFAULT_STORAGE_LIMITS,
      tree.createClocks(),
    );

    const result = apply(restored, [push('3:0', '3:6')], 3);

    expect(restored.createClocks()).toEqual([['3', 6]]);
    expect(result.toSender).toEqual([ACK('3:6'), { type: 5, id: '3:0' }]);
  });

  it('forgets the least recently seen actor past the limit', () => {
    const tree = StorageTree.empty({ ...DEFAULT_STORAGE_LIMITS, maxTrackedActors: 2 });
    const create = (actor: number) => ({
      type: 7,
      id: `${actor}:0`,
      opId: `${actor}:0`,
      parentId: 'root',
      parentKey: `m${actor}`,
    });

    apply(tree, [create(1)], 1);
    apply(tree, [create(2)], 2);
    apply(tree, [create(3)], 3);

    expect(tree.createClocks()).toEqual([
      ['2', 0],
      ['3', 0],
    ]);
  });
});
