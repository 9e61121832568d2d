import { Writable } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { WeftError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { StorageOpsEntry } from '../../src/rooms/log-entry-codec.js';
import {
  encodeStorageCommand,
  type StorageCommand,
} from '../../src/rooms/storage-command-codec.js';
import {
  TreeRoomStorage,
  checkStorageOps,
  initializeOps,
  refuseStorageOps,
} from '../../src/rooms/tree-room-storage.js';

/** A storage whose log records are kept. */
function storage(snapshot: Uint8Array = new Uint8Array(0)) {
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  return { storage: TreeRoomStorage.fromSnapshot(snapshot, logger), logs };
}

function entry(command: StorageCommand, origin = 7): StorageOpsEntry {
  return { kind: 'storage-ops', origin, payload: encodeStorageCommand(command) };
}

const LSON = {
  liveblocksType: 'LiveObject',
  data: {
    title: 't',
    list: {
      liveblocksType: 'LiveList',
      data: [1, { liveblocksType: 'LiveObject', data: { done: true } }],
    },
    map: { liveblocksType: 'LiveMap', data: { k: { liveblocksType: 'LiveList', data: [] } } },
  },
};

describe('TreeRoomStorage', () => {
  it('applies a client’s ops, answering the writer and the others', () => {
    const { storage: room } = storage();

    const update = room.applyEntry(
      entry({
        kind: 'ops',
        ops: [{ type: 2, id: '7:0', parentId: 'root', parentKey: 'list', opId: '7:1' }],
      }),
    );

    expect(update.toSender).toEqual([
      { type: 2, id: '7:0', parentId: 'root', parentKey: 'list', opId: '7:1' },
    ]);
    expect(update.toOthers).toEqual([{ type: 2, id: '7:0', parentId: 'root', parentKey: 'list' }]);
    expect(update.rejected).toBeNull();
    expect(room.toJson()).toEqual({ list: [] });
  });

  it('round-trips the tree through its snapshot bytes', () => {
    const { storage: room } = storage();
    room.applyEntry(entry({ kind: 'initialize', ops: initializeOps(LSON, 3).ops, request: 'r' }));

    const restored = storage(room.encode()).storage;

    expect(restored.toPlainLson()).toEqual(LSON);
    expect(restored.items()).toEqual(room.items());
    expect(restored.nodeCount).toBe(room.nodeCount);
  });

  it('keeps what the tree remembers of processed creates in its snapshot', () => {
    const { storage: room } = storage();
    const create = { type: 2, id: '7:0', parentId: 'root', parentKey: 'list', opId: '7:1' };
    const item = { type: 8, id: '7:2', parentId: '7:0', parentKey: '!', data: 1, opId: '7:3' };
    const removal = { type: 5, id: '7:2', opId: '7:4' };
    room.applyEntry(entry({ kind: 'ops', ops: [create, item, removal] }));
    const restored = storage(room.encode()).storage;

    // A client that never got its acknowledgements resends the item's create after reloading.
    const fresh = room.applyEntry(entry({ kind: 'ops', ops: [item] }, 9));
    const loaded = restored.applyEntry(entry({ kind: 'ops', ops: [item] }, 9));

    expect(loaded).toEqual(fresh);
    expect(restored.items()).toEqual(room.items());
    expect(restored.toJson()).toEqual({ list: [] });
  });

  it('encodes an empty tree as no bytes and refuses bytes of an unknown format', () => {
    const { storage: room } = storage();

    expect(room.encode()).toEqual(new Uint8Array(0));
    expect(() => storage(new Uint8Array([9, 1, 2]))).toThrow(/unknown storage snapshot format 9/);
  });

  it('initializes an empty tree and sends the new nodes to the others', () => {
    const { storage: room } = storage();

    const update = room.applyEntry(
      entry({ kind: 'initialize', ops: initializeOps(LSON, 3).ops, request: 'r1' }, 0),
    );

    expect(update.request).toEqual({ id: 'r1', outcome: 'applied' });
    expect(update.toSender).toEqual([]);
    expect(room.toPlainLson()).toEqual(LSON);
    // Root fields, then one create per node, parents first.
    expect(update.toOthers.map((op) => (op as { type: number }).type)).toEqual([8, 2, 8, 4, 7, 2]);
    expect(update.toOthers.every((op) => !('opId' in (op as object)))).toBe(true);
  });

  it('leaves a tree with keys as it is and answers "not-empty" to an initialization', () => {
    const { storage: room } = storage();
    room.applyEntry(
      entry({ kind: 'ops', ops: [{ type: 3, id: 'root', data: { a: 1 }, opId: 'x' }] }),
    );

    const update = room.applyEntry(
      entry({ kind: 'initialize', ops: initializeOps(LSON, 3).ops, request: 'r2' }),
    );

    expect(update).toEqual({
      toSender: [],
      toOthers: [],
      rejected: null,
      request: { id: 'r2', outcome: 'not-empty' },
    });
    expect(room.toJson()).toEqual({ a: 1 });
  });

  it('deletes every root key, live or plain, and tells the others', () => {
    const { storage: room } = storage();
    room.applyEntry(entry({ kind: 'initialize', ops: initializeOps(LSON, 3).ops, request: 'r' }));

    const update = room.applyEntry(entry({ kind: 'delete', request: 'd' }, 0));

    expect(update.request).toEqual({ id: 'd', outcome: 'applied' });
    expect(update.toOthers).toEqual([
      { type: 6, id: 'root', key: 'title' },
      { type: 6, id: 'root', key: 'list' },
      { type: 6, id: 'root', key: 'map' },
    ]);
    expect(room.isEmpty()).toBe(true);
    expect(room.nodeCount).toBe(1);
  });

  it('rebuilds the sender’s list when it resends a set whose item another set replaced', () => {
    const { storage: room } = storage();
    room.applyEntry(
      entry(
        {
          kind: 'ops',
          ops: [
            { type: 2, id: '2:0', parentId: 'root', parentKey: 'list', opId: '2:1' },
            { type: 8, id: '2:2', parentId: '2:0', parentKey: '!', data: 'a', opId: '2:3' },
          ],
        },
        2,
      ),
    );
    const first = {
      type: 8,
      id: '3:0',
      parentId: '2:0',
      parentKey: '!',
      data: 'b',
      intent: 'set',
      deletedId: '2:2',
      opId: '3:1',
    };
    room.applyEntry(entry({ kind: 'ops', ops: [first] }, 3));
    room.applyEntry(
      entry(
        { kind: 'ops', ops: [{ ...first, id: '4:0', data: 'c', deletedId: '3:0', opId: '4:1' }] },
        4,
      ),
    );

    // The client of actor 3 lost its acknowledgement, reloaded and resends its set.
    const update = room.applyEntry(entry({ kind: 'ops', ops: [first] }, 5));

    expect(update.toOthers).toEqual([]);
    expect(update.toSender).toContainEqual({ type: 5, id: 'ACK', opId: '3:1' });
    expect(update.toSender.slice(-3)).toEqual([
      { type: 5, id: '2:0' },
      { type: 2, id: '2:0', parentId: 'root', parentKey: 'list' },
      { type: 8, id: '4:0', parentId: '2:0', parentKey: '!', data: 'c' },
    ]);
    expect(room.toJson()).toEqual({ list: ['c'] });
  });

  it('logs each unsupported op kind once per room and rejects every one of them', () => {
    const { storage: room, logs } = storage();
    const text = (n: number) => ({
      type: 9,
      id: `7:${n}`,
      parentId: 'root',
      parentKey: `t${n}`,
      data: '',
      opId: `o${n}`,
    });

    const first = room.applyEntry(entry({ kind: 'ops', ops: [text(1), text(2)] }));
    const second = room.applyEntry(entry({ kind: 'ops', ops: [text(3)] }));

    expect(first.rejected?.opIds).toEqual(['o1', 'o2']);
    expect(second.rejected?.opIds).toEqual(['o3']);
    expect(second.rejected?.reason).toContain('CREATE_TEXT');
    expect(logs.filter((record) => record.msg === 'unsupported storage op refused')).toHaveLength(
      1,
    );
  });

  it('skips an unreadable entry with an error log and changes nothing', () => {
    const { storage: room, logs } = storage();

    const update = room.applyEntry({
      kind: 'storage-ops',
      origin: 1,
      payload: new TextEncoder().encode('{"what":1}'),
    });

    expect(update).toEqual({ toSender: [], toOthers: [], rejected: null });
    expect(logs.map((record) => record.msg)).toEqual(['unreadable storage entry skipped']);
    expect(room.isEmpty()).toBe(true);
  });

  it('computes the same tree and replies on two copies fed the same entries', () => {
    const a = storage().storage;
    const b = storage().storage;
    const entries = [
      entry({ kind: 'initialize', ops: initializeOps(LSON, 2).ops, request: 'r' }, 0),
      entry(
        {
          kind: 'ops',
          ops: [
            { type: 8, id: '5:0', parentId: '2:1', parentKey: '!', data: 'x', opId: '5:1' },
            { type: 8, id: '5:2', parentId: '2:1', parentKey: '!', data: 'y', opId: '5:3' },
          ],
        },
        5,
      ),
      entry({ kind: 'ops', ops: [{ type: 1, id: '2:2', parentKey: '!', opId: '6:0' }] }, 6),
    ];

    const repliesA = entries.map((each) => a.applyEntry(each));
    const repliesB = entries.map((each) => b.applyEntry(each));

    expect(repliesB).toEqual(repliesA);
    expect(b.items()).toEqual(a.items());
  });
});

describe('initializeOps', () => {
  it('names every node with the given actor', () => {
    const { ops, plainLson } = initializeOps(LSON, 42);

    const ids = ops.map((op) => (op as { id: string }).id).filter((id) => id !== 'root');
    expect(ids.every((id) => id.startsWith('42:'))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(plainLson).toEqual(LSON);
  });

  it('refuses what is not plain LSON with UNPROCESSABLE_ENTITY', () => {
    for (const value of [[1], { liveblocksType: 'LiveMap', data: {} }, null, 'x']) {
      expect(() => initializeOps(value, 1)).toThrow(WeftError);
    }
    try {
      initializeOps(
        { liveblocksType: 'LiveObject', data: { t: { liveblocksType: 'LiveText' } } },
        1,
      );
    } catch (error) {
      expect((error as WeftError).code).toBe('UNPROCESSABLE_ENTITY');
    }
  });
});

describe('client op checks', () => {
  it('names what is malformed in a message’s ops, and passes well-formed ones', () => {
    expect(checkStorageOps([{ type: 3, id: 'root', data: {}, opId: 'a' }])).toBeNull();
    expect(checkStorageOps('nope')).toMatch(/array/);
    expect(checkStorageOps([{ type: 4, id: 'x', opId: 'a' }])).toMatch(/op 0/);
  });

  it('rejects every well-formed opId of a refused message, or nothing when none', () => {
    expect(refuseStorageOps([{ opId: 'a' }, { opId: 3 }, { opId: 'b' }], 'no')).toEqual({
      opIds: ['a', 'b'],
      reason: 'no',
    });
    expect(refuseStorageOps([], 'no')).toBeNull();
  });
});
