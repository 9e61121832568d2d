import { describe, expect, it } from 'vitest';

import { jsonPatchOps } from '../../src/rooms/storage-json-patch.js';
import { initializeOps } from '../../src/rooms/tree-room-storage.js';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

const DOCUMENT = {
  liveblocksType: 'LiveObject',
  data: {
    title: 'plan',
    plain: { x: 1 },
    list: {
      liveblocksType: 'LiveList',
      data: ['a', 'b', { liveblocksType: 'LiveObject', data: { n: 1 } }],
    },
    map: {
      liveblocksType: 'LiveMap',
      data: { k: 'v', deep: { liveblocksType: 'LiveList', data: [1] } },
    },
  },
};

function tree(): StorageTree {
  const built = StorageTree.empty();
  built.apply(initializeOps(DOCUMENT, 1).ops, { actor: 0 });
  return built;
}

/** Applies a patch the way a room does and returns the JSON view, or the failure. */
function patched(patch: unknown): unknown {
  const target = tree();
  const result = jsonPatchOps(target, patch, 9);
  if (!result.ok) return { failed: result.reason };
  const applied = target.apply(result.ops, { actor: 0 });
  expect(applied.rejected).toBeNull();
  return target.toJson();
}

describe('jsonPatchOps', () => {
  it('adds, replaces and removes fields of LiveObjects and keys of LiveMaps', () => {
    expect(
      patched([
        { op: 'add', path: '/count', value: 3 },
        { op: 'replace', path: '/title', value: 'done' },
        { op: 'remove', path: '/plain' },
        { op: 'add', path: '/map/k2', value: [true] },
        { op: 'replace', path: '/map/k', value: 'w' },
        { op: 'remove', path: '/map/deep' },
      ]),
    ).toEqual({
      title: 'done',
      count: 3,
      list: ['a', 'b', { n: 1 }],
      map: { k: 'w', k2: [true] },
    });
  });

  it('inserts into, sets in and removes from LiveLists by index, "-" appending', () => {
    expect(
      patched([
        { op: 'add', path: '/list/0', value: 'first' },
        { op: 'add', path: '/list/-', value: 'last' },
        { op: 'add', path: '/list/2', value: 'middle' },
        { op: 'replace', path: '/list/1', value: 'A' },
        { op: 'remove', path: '/list/4' },
      ]),
    ).toMatchObject({ list: ['first', 'A', 'middle', 'b', 'last'] });
  });

  it('turns objects and arrays given as values into LiveObjects and LiveLists', () => {
    const target = tree();
    const result = jsonPatchOps(
      target,
      [{ op: 'add', path: '/shape', value: { at: [1, { y: 2 }] } }],
      9,
    );
    expect(result.ok).toBe(true);
    target.apply((result as { ops: unknown[] }).ops, { actor: 0 });

    expect(target.toPlainLson()).toMatchObject({
      data: {
        shape: {
          liveblocksType: 'LiveObject',
          data: {
            at: {
              liveblocksType: 'LiveList',
              data: [1, { liveblocksType: 'LiveObject', data: { y: 2 } }],
            },
          },
        },
      },
    });
    const ids = (result as { ops: Array<{ id: string }> }).ops.map((op) => op.id);
    expect(ids.every((id) => id.startsWith('9:'))).toBe(true);
  });

  it('moves and copies live structures with their types, and passes matching tests', () => {
    expect(
      patched([
        { op: 'test', path: '/map/deep', value: [1] },
        { op: 'copy', from: '/map', path: '/copy' },
        { op: 'move', from: '/list/0', path: '/list/2' },
        { op: 'move', from: '/map/deep', path: '/moved' },
        { op: 'test', path: '/list', value: ['b', { n: 1 }, 'a'] },
      ]),
    ).toEqual({
      title: 'plan',
      plain: { x: 1 },
      list: ['b', { n: 1 }, 'a'],
      map: { k: 'v' },
      copy: { k: 'v', deep: [1] },
      moved: [1],
    });
    const target = tree();
    const result = jsonPatchOps(target, [{ op: 'copy', from: '/map', path: '/copy' }], 9);
    target.apply((result as { ops: unknown[] }).ops, { actor: 0 });
    expect(
      (target.toPlainLson() as { data: { copy: { liveblocksType: string } } }).data.copy
        .liveblocksType,
    ).toBe('LiveMap');
  });

  it('fails whole, naming the operation, on a failed test, a missing target or plain JSON', () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        [
          { op: 'add', path: '/x', value: 1 },
          { op: 'test', path: '/title', value: 'no' },
        ],
        /operation 1: test failed/,
      ],
      [[{ op: 'remove', path: '/nope' }], /operation 0: nothing to remove/],
      [[{ op: 'add', path: '/plain/y', value: 2 }], /plain JSON/],
      [[{ op: 'add', path: '/list/9', value: 2 }], /past the list's end/],
      [[{ op: 'replace', path: '/list/x', value: 2 }], /nothing to replace/],
      [[{ op: 'add', path: '', value: {} }], /root cannot be the target/],
      [[{ op: 'move', from: '/map', path: '/map/k3' }], /must not hold/],
      [[{ op: 'add', path: 'title', value: 1 }], /JSON Pointer/],
      [[{ op: 'add', path: '/t' }], /needs a "value"/],
      [[{ op: 'frobnicate', path: '/t' }], /unknown op/],
      [[{ op: 'add', path: '/t', value: { liveblocksType: 'LiveText', data: '' } }], /LiveText/],
      [{ op: 'add' }, /array/],
    ];

    for (const [patch, reason] of cases) {
      expect(patched(patch), JSON.stringify(patch)).toEqual({
        failed: expect.stringMatching(reason),
      });
    }
  });

  it('leaves the tree it is given untouched', () => {
    const target = tree();
    const before = target.serialize();

    jsonPatchOps(
      target,
      [
        { op: 'remove', path: '/list/0' },
        { op: 'add', path: '/z', value: [1] },
      ],
      9,
    );

    expect(target.serialize()).toEqual(before);
  });

  it('follows RFC 6901 escapes in keys', () => {
    expect(
      patched([
        { op: 'add', path: '/a~1b', value: 1 },
        { op: 'add', path: '/m~0n', value: 2 },
      ]),
    ).toMatchObject({ 'a/b': 1, 'm~n': 2 });
  });
});
