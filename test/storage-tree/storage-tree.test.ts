import { compactNodesToNodeStream } from '@liveblocks/core';
import { describe, expect, it } from 'vitest';
import { WeftError } from '../../src/errors.js';
import type { SerializedCrdt } from '../../src/storage-tree/ops.js';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

function idFactory(actor = 0): () => string {
  let clock = 0;
  return () => `${actor}:${clock++}`;
}

const document = {
  liveblocksType: 'LiveObject',
  data: {
    title: 'Plan',
    tags: ['a', 'b'],
    meta: { liveblocksType: 'LiveObject', data: { done: false, owner: { name: 'Ada' } } },
    todos: {
      liveblocksType: 'LiveList',
      data: [
        'first',
        { liveblocksType: 'LiveObject', data: { text: 'second' } },
        { liveblocksType: 'LiveList', data: [1, 2] },
      ],
    },
    people: {
      liveblocksType: 'LiveMap',
      data: { ada: { liveblocksType: 'LiveObject', data: { age: 36 } }, bob: null },
    },
  },
};

describe('an empty tree', () => {
  it('holds only the root', () => {
    const tree = StorageTree.empty();

    expect(tree.isEmpty()).toBe(true);
    expect(tree.nodeCount).toBe(1);
    expect(tree.serialize()).toEqual([['root', { type: 0, data: {} }]]);
    expect([...tree.compactNodes()]).toEqual([['root', {}]]);
    expect(tree.toJson()).toEqual({});
    expect(tree.toPlainLson()).toEqual({ liveblocksType: 'LiveObject', data: {} });
  });

  it('is no longer empty once the root has a key', () => {
    const tree = StorageTree.empty();
    tree.apply([{ type: 3, id: 'root', opId: '1:0', data: { a: 1 } }], { actor: 1 });

    expect(tree.isEmpty()).toBe(false);
  });
});

describe('plain LSON', () => {
  it('round-trips through a tree', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());

    expect(tree.toPlainLson()).toEqual(document);
    expect(tree.nodeCount).toBe(11);
  });

  it('gives the JSON view a client shows', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());

    expect(tree.toJson()).toEqual({
      title: 'Plan',
      tags: ['a', 'b'],
      meta: { done: false, owner: { name: 'Ada' } },
      todos: ['first', { text: 'second' }, [1, 2]],
      people: { ada: { age: 36 }, bob: null },
    });
  });

  it('gives list items the positions a client gives a new list', () => {
    const tree = StorageTree.fromPlainLson(
      {
        liveblocksType: 'LiveObject',
        data: { l: { liveblocksType: 'LiveList', data: [1, 2, 3] } },
      },
      idFactory(),
    );

    const positions = tree
      .serialize()
      .filter(([, node]) => node.type === 3)
      .map(([, node]) => ('parentKey' in node ? node.parentKey : ''));
    expect(positions).toEqual(['!', '!!', '!"']);
  });

  it('names new nodes with the ids it is given', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory(7));

    const ids = tree.serialize().map(([id]) => id);
    expect(ids[0]).toBe('root');
    expect(ids.slice(1).every((id) => id.startsWith('7:'))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  const invalid: Array<[string, unknown, RegExp]> = [
    ['a plain object at the top', { a: 1 }, /must be a LiveObject/],
    ['a LiveList at the top', { liveblocksType: 'LiveList', data: [] }, /must be a LiveObject/],
    ['an unknown live type', { liveblocksType: 'LiveSet', data: {} }, /liveblocksType must be/],
    ['LiveText', wrap({ liveblocksType: 'LiveText', data: [], version: 0 }), /LiveText is not/],
    ['LiveFile', wrap({ liveblocksType: 'LiveFile', data: {} }), /LiveFile is not supported/],
    ['a LiveList without an array', wrap({ liveblocksType: 'LiveList', data: {} }), /array/],
    ['a LiveMap without an object', wrap({ liveblocksType: 'LiveMap', data: [] }), /object/],
    ['a non-JSON value', wrap(Number.POSITIVE_INFINITY), /not JSON/],
    ['an oversized LiveObject', wrap('x'.repeat(140_000)), /at most 131072 bytes/],
  ];

  it.each(invalid)('refuses %s with a typed error', (_name, value, message) => {
    const attempt = () => StorageTree.fromPlainLson(value, idFactory());

    expect(attempt).toThrow(WeftError);
    expect(attempt).toThrow(message);
  });

  it('refuses live structures nested past the depth limit', () => {
    let value: unknown = { liveblocksType: 'LiveObject', data: {} };
    for (let i = 0; i < 600; i++) {
      value = { liveblocksType: 'LiveObject', data: { next: value } };
    }

    expect(() => StorageTree.fromPlainLson(value, idFactory())).toThrow(/nest at most 512/);
  });

  it('refuses an id factory that repeats itself', () => {
    expect(() => StorageTree.fromPlainLson(document, () => 'same')).toThrow(/repeated id/);
  });
});

function wrap(value: unknown): unknown {
  return { liveblocksType: 'LiveObject', data: { value } };
}

describe('serialized forms', () => {
  it('list the root first and every parent before its children, list items in order', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());

    const items = tree.serialize();
    const seen = new Set<string>();
    for (const [id, node] of items) {
      if ('parentId' in node) {
        expect(seen.has(node.parentId)).toBe(true);
      }
      seen.add(id);
    }
    expect(items[0]?.[0]).toBe('root');
  });

  it('carry the same nodes in the v7 and v8 forms', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());

    const fromCompact = [...compactNodesToNodeStream([...tree.compactNodes()] as never)];

    expect(fromCompact).toEqual(tree.serialize());
  });

  it('are snapshots that later ops do not change', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());
    const items = tree.serialize();
    const compact = [...tree.compactNodes()];
    const copy = JSON.parse(JSON.stringify([items, compact])) as unknown;

    tree.apply([{ type: 3, id: 'root', opId: '1:0', data: { title: 'Changed' } }], { actor: 1 });

    expect([items, compact]).toEqual(copy);
  });

  it('rebuild the same tree', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());
    const items = tree.serialize();

    const rebuilt = StorageTree.fromSerialized(items);

    expect(rebuilt.serialize()).toEqual(items);
    expect(rebuilt.toPlainLson()).toEqual(document);
  });

  it('rebuild the same tree from items in any order', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());
    const items = tree.serialize();
    const byId = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : 1);

    const rebuilt = StorageTree.fromSerialized([...items].reverse());

    expect(rebuilt.serialize().sort(byId)).toEqual([...items].sort(byId));
    expect(rebuilt.toPlainLson()).toEqual(document);
  });
});

describe('malformed serialized trees', () => {
  const root: [string, SerializedCrdt] = ['root', { type: 0, data: {} }];
  const list: [string, SerializedCrdt] = ['0:1', { type: 1, parentId: 'root', parentKey: 'l' }];
  const cases: Array<[string, unknown[], RegExp]> = [
    ['no root', [list], /root node is missing/],
    ['a repeated id', [root, list, list], /appears twice/],
    ['an item that is not a pair', [root, ['0:1']], /\[id, node\]/],
    ['a child without parent fields', [root, ['0:1', { type: 2 }]], /parentId and parentKey/],
    ['an unknown type', [root, ['0:1', { type: 4, parentId: 'root', parentKey: 't' }]], /type/],
    ['object data that is not an object', [['root', { type: 0, data: 1 }]], /root data/],
    [
      'a node under a missing parent',
      [root, ['0:2', { type: 2, parentId: '9:9', parentKey: 'm' }]],
      /not under the root/,
    ],
    [
      'a cycle away from the root',
      [
        root,
        ['0:2', { type: 2, parentId: '0:3', parentKey: 'a' }],
        ['0:3', { type: 2, parentId: '0:2', parentKey: 'b' }],
      ],
      /not under the root/,
    ],
    [
      'a register inside a LiveObject',
      [root, ['0:2', { type: 3, parentId: 'root', parentKey: 'r', data: 1 }]],
      /cannot be a LiveObject field/,
    ],
    [
      'a child of a register',
      [
        root,
        ['0:1', { type: 2, parentId: 'root', parentKey: 'm' }],
        ['0:2', { type: 3, parentId: '0:1', parentKey: 'r', data: 1 }],
        ['0:3', { type: 2, parentId: '0:2', parentKey: 'x' }],
      ],
      /cannot have children/,
    ],
    [
      'two items at one position',
      [
        root,
        list,
        ['0:2', { type: 3, parentId: '0:1', parentKey: '!', data: 1 }],
        ['0:3', { type: 3, parentId: '0:1', parentKey: '!', data: 2 }],
      ],
      /share a position/,
    ],
    [
      'a malformed position',
      [root, list, ['0:2', { type: 3, parentId: '0:1', parentKey: 'a ', data: 1 }]],
      /malformed list position/,
    ],
    [
      'a live child on a key that holds a plain field',
      [['root', { type: 0, data: { l: 1 } }], list],
      /held twice/,
    ],
  ];

  it('are refused when their create clocks are malformed', () => {
    expect(() => StorageTree.fromSerialized([root], undefined, [['1', 1.5]])).toThrow(
      /createClocks/,
    );
  });

  it.each(cases)('are refused with a typed error: %s', (_name, items, message) => {
    const attempt = () => StorageTree.fromSerialized(items as Array<[string, SerializedCrdt]>);

    expect(attempt).toThrow(WeftError);
    expect(attempt).toThrow(message);
  });
});

describe('diffOps', () => {
  it('is empty between a tree and its copy', () => {
    const tree = StorageTree.fromPlainLson(document, idFactory());

    expect(tree.diffOps(StorageTree.fromSerialized(tree.serialize()))).toEqual([]);
  });

  it('deletes what is gone first, then sets fields, then creates parents before children', () => {
    const before = StorageTree.fromPlainLson(
      {
        liveblocksType: 'LiveObject',
        data: { keep: 1, drop: 2, old: { liveblocksType: 'LiveMap', data: { a: 1 } } },
      },
      idFactory(0),
    );
    const after = StorageTree.fromPlainLson(
      {
        liveblocksType: 'LiveObject',
        data: { keep: 1, old: 5, fresh: { liveblocksType: 'LiveList', data: ['x'] } },
      },
      idFactory(9),
    );

    expect(before.diffOps(after)).toEqual([
      { type: 5, id: '0:0' },
      { type: 8, id: 'root|old', parentId: 'root', parentKey: 'old', data: 5 },
      { type: 6, id: 'root', key: 'drop' },
      { type: 2, id: '9:0', parentId: 'root', parentKey: 'fresh' },
      { type: 8, id: '9:1', parentId: '9:0', parentKey: '!', data: 'x' },
    ]);
  });

  it('keeps nodes with the same id, parent and key, and recreates a moved list item', () => {
    const before = StorageTree.fromPlainLson(document, idFactory());
    const items = before.serialize();
    const [listId] = items.find(([, node]) => 'parentKey' in node && node.parentKey === 'todos')!;
    const [firstId] = items.find(
      ([, node]) => 'parentId' in node && node.parentId === listId && node.parentKey === '!',
    )!;
    const after = StorageTree.fromSerialized(items);
    after.apply(
      [
        { type: 3, id: 'root', opId: '1:0', data: { title: 'New' } },
        { type: 1, id: firstId, opId: '1:1', parentKey: '~' },
      ],
      { actor: 1 },
    );

    expect(before.diffOps(after)).toEqual([
      { type: 5, id: firstId },
      { type: 8, id: 'root|title', parentId: 'root', parentKey: 'title', data: 'New' },
      { type: 8, id: firstId, parentId: listId, parentKey: '~', data: 'first' },
    ]);
  });
});
