import { describe, expect, it } from 'vitest';
import { StorageTree, rejectAll } from '../../src/storage-tree/storage-tree.js';

const good = { type: 3, id: 'root', opId: '1:0', data: { a: 1 } };

function applyToFresh(ops: unknown) {
  const tree = StorageTree.empty();
  const result = tree.apply(ops, { actor: 1 });
  return { tree, result };
}

describe('malformed messages', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['ops that are not an array', 'hello', /ops must be an array/],
    ['an op that is not an object', [42], /op 1: must be an object/],
    ['an op without opId', [{ type: 3, id: 'root', data: {} }], /opId must be a string/],
    ['an empty opId', [{ ...good, opId: '' }], /opId must be a string/],
    ['an overlong opId', [{ ...good, opId: 'x'.repeat(129) }], /opId must be a string/],
    ['an unknown op type', [{ type: 42, id: 'root', opId: '1:0' }], /unknown op type 42/],
    ['INIT, which clients never send', [{ type: 0, id: 'root', opId: '1:0' }], /unknown op type/],
    ['a type that is not a number', [{ ...good, type: '3' }], /type must be an op code/],
    ['an id that is not a string', [{ ...good, id: 7 }], /id must be a string/],
    ['update data that is not an object', [{ ...good, data: 5 }], /data must be a JSON object/],
    ['update data that is an array', [{ ...good, data: [1] }], /data must be a JSON object/],
    ['a NaN in data', [{ ...good, data: { a: Number.NaN } }], /data must be a JSON object/],
    ['a key past the key limit', [{ ...good, data: { ['k'.repeat(4097)]: 1 } }], /data keys/],
    [
      'a create without parentId',
      [{ type: 4, id: '1:0', opId: '1:0', parentKey: 'a', data: {} }],
      /parentId must be a string/,
    ],
    [
      'a create with a numeric parentKey',
      [{ type: 7, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 3 }],
      /parentKey must be a string/,
    ],
    [
      'a register without data',
      [{ type: 8, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 'a' }],
      /data must be JSON/,
    ],
    [
      'an unknown intent',
      [{ type: 7, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 'a', intent: 'move' }],
      /intent must be "set" or "push"/,
    ],
    [
      'a deletedId that is not a string',
      [{ type: 7, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 'a', deletedId: 1 }],
      /deletedId must be a string/,
    ],
    ['a DELETE_OBJECT_KEY without key', [{ type: 6, id: 'root', opId: '1:0' }], /key must be/],
    ['a SET_PARENT_KEY without parentKey', [{ type: 1, id: '0:1', opId: '1:0' }], /parentKey/],
  ];

  it.each(cases)('refuses a message with %s, applying none of it', (_name, ops, reason) => {
    const { tree, result } = applyToFresh(Array.isArray(ops) ? [good, ...ops] : ops);

    expect(result.invalid).toMatch(reason);
    expect(result.rejected?.reason).toMatch(reason);
    expect(result.toSender).toEqual([]);
    expect(result.toOthers).toEqual([]);
    expect(tree.toJson()).toEqual({});
  });

  it('names every well-formed opId of a refused message so the client stops waiting', () => {
    const { result } = applyToFresh([good, { type: 42, opId: '1:1' }, { opId: 5 }]);

    expect(result.rejected?.opIds).toEqual(['1:0', '1:1']);
  });

  it('refuses JSON nested deeper than the limit', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 600; i++) {
      deep = [deep];
    }

    const { result } = applyToFresh([{ ...good, data: { deep } }]);

    expect(result.invalid).toMatch(/nested at most 512 deep/);
  });

  it('survives values built to break naive code', () => {
    const hostile = JSON.parse(
      '{"type":3,"id":"root","opId":"1:0","data":{"__proto__":{"polluted":true},"constructor":1}}',
    ) as unknown;

    const { tree, result } = applyToFresh([hostile]);

    expect(result.rejected).toBeNull();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(tree.toJson() as object)).toEqual(['__proto__', 'constructor']);
    expect(JSON.parse(JSON.stringify(tree.serialize()))).toEqual(tree.serialize());
  });

  it('does not throw on input that was not made by JSON.parse', () => {
    const trap = Object.defineProperty({ opId: '1:0' }, 'type', {
      enumerable: true,
      get() {
        throw new Error('trap');
      },
    });

    const { result } = applyToFresh([trap]);

    expect(result.invalid).toBe('ops are not plain JSON');
  });

  it('ignores fields it does not know and does not forward them', () => {
    const { result } = applyToFresh([
      { type: 7, id: '1:0', opId: '1:0', parentId: 'root', parentKey: 'm', evil: 'x' },
    ]);

    expect(result.toOthers).toEqual([{ type: 7, id: '1:0', parentId: 'root', parentKey: 'm' }]);
  });
});

describe('rejectAll', () => {
  it('refuses every well-formed opId and applies nothing', () => {
    const result = rejectAll(
      [good, { type: 5, id: 'x', opId: '1:1' }, 'junk'],
      'You have no write access to this room',
    );

    expect(result).toEqual({
      toOthers: [],
      toSender: [],
      rejected: { opIds: ['1:0', '1:1'], reason: 'You have no write access to this room' },
      unsupported: [],
      invalid: null,
    });
  });

  it('names no opId when the ops are not an array', () => {
    expect(rejectAll({ ops: 1 }, 'read-only').rejected).toEqual({ opIds: [], reason: 'read-only' });
  });
});
