import { beforeAll, describe, expect, it } from 'vitest';

import type { Store } from '../../src/store/store.js';
import { storeFactories } from '../support/store-factories.js';

const AT = '2025-01-01T00:00:00.000Z';

function entries(...texts: string[]): Buffer[] {
  return texts.map((text) => Buffer.from(text));
}

describe.each(storeFactories)('RoomLogRepository ($name)', (factory) => {
  let store: Store;

  beforeAll(async () => {
    store = await factory.open();
  });

  it('append numbers entries 1, 2, 3 … and continues where the last append ended', async () => {
    expect(await store.roomLog.append('log-1', entries('a', 'b', 'c'))).toEqual([1, 2, 3]);
    expect(await store.roomLog.append('log-1', entries('d', 'e'))).toEqual([4, 5]);
    expect(await store.roomLog.append('log-1', [])).toEqual([]);
    expect(await store.roomLog.append('log-1', entries('f'))).toEqual([6]);
  });

  it('readAfter returns the entries after a seq, in order, byte for byte', async () => {
    const binary = Buffer.from([0, 1, 2, 255, 254, 0]);
    await store.roomLog.append('log-2', [Buffer.from('first'), binary, Buffer.alloc(0)]);

    const everything = await store.roomLog.readAfter('log-2', 0);
    const tail = await store.roomLog.readAfter('log-2', 2);
    const nothing = await store.roomLog.readAfter('log-2', 3);

    expect(everything).toEqual([
      { seq: 1, entry: Buffer.from('first') },
      { seq: 2, entry: binary },
      { seq: 3, entry: Buffer.alloc(0) },
    ]);
    expect(everything.every((e) => Buffer.isBuffer(e.entry) && typeof e.seq === 'number')).toBe(
      true,
    );
    expect(tail).toEqual([{ seq: 3, entry: Buffer.alloc(0) }]);
    expect(nothing).toEqual([]);
  });

  it('keeps the logs of different rooms apart', async () => {
    await store.roomLog.append('log-3a', entries('a1', 'a2'));
    await store.roomLog.append('log-3b', entries('b1'));

    expect(await store.roomLog.append('log-3a', entries('a3'))).toEqual([3]);
    expect((await store.roomLog.readAfter('log-3b', 0)).map((e) => e.entry.toString())).toEqual([
      'b1',
    ]);
  });

  it('putSnapshot stores the snapshot and drops the entries it covers', async () => {
    await store.roomLog.append('log-4', entries('1', '2', '3', '4', '5'));

    await store.roomLog.putSnapshot('log-4', 3, Buffer.from('state@3'), AT);

    expect(await store.roomLog.getSnapshot('log-4')).toEqual({
      seq: 3,
      snapshot: Buffer.from('state@3'),
    });
    expect((await store.roomLog.readAfter('log-4', 0)).map((e) => e.seq)).toEqual([4, 5]);
  });

  it('putSnapshot never replaces a newer snapshot, and an equal seq replaces it', async () => {
    await store.roomLog.append('log-5', entries('1', '2', '3', '4', '5', '6'));
    await store.roomLog.putSnapshot('log-5', 5, Buffer.from('state@5'), AT);

    await store.roomLog.putSnapshot('log-5', 3, Buffer.from('state@3'), AT);
    expect(await store.roomLog.getSnapshot('log-5')).toEqual({
      seq: 5,
      snapshot: Buffer.from('state@5'),
    });
    expect((await store.roomLog.readAfter('log-5', 0)).map((e) => e.seq)).toEqual([6]);

    await store.roomLog.putSnapshot('log-5', 5, Buffer.from('state@5 again'), AT);
    expect((await store.roomLog.getSnapshot('log-5'))?.snapshot.toString()).toBe('state@5 again');
  });

  it('concurrent snapshots of one room end with the newest one', async () => {
    await store.roomLog.append('log-6', entries(...Array.from({ length: 20 }, String)));
    const seqs = [7, 20, 3, 12, 1, 19, 5, 15, 9, 2, 18, 4, 11, 14, 6, 16, 8, 13, 10, 17];

    await Promise.all(
      seqs.map((seq) => store.roomLog.putSnapshot('log-6', seq, Buffer.from(`state@${seq}`), AT)),
    );

    expect(await store.roomLog.getSnapshot('log-6')).toEqual({
      seq: 20,
      snapshot: Buffer.from('state@20'),
    });
    expect(await store.roomLog.readAfter('log-6', 0)).toEqual([]);
  });

  it('append after a snapshot continues after the snapshot, even when the log is empty', async () => {
    await store.roomLog.append('log-7', entries('1', '2', '3'));
    await store.roomLog.putSnapshot('log-7', 3, Buffer.from('state@3'), AT);

    expect(await store.roomLog.readAfter('log-7', 0)).toEqual([]);
    expect(await store.roomLog.append('log-7', entries('4'))).toEqual([4]);
  });

  it('append continues after a snapshot that is ahead of the stored log', async () => {
    // A cluster keeps the hot log in Redis and writes only snapshots here.
    await store.roomLog.putSnapshot('log-8', 40, Buffer.from('state@40'), AT);

    expect(await store.roomLog.append('log-8', entries('next'))).toEqual([41]);
  });

  it('appendNow writes several rooms at once on SQLite, numbering each as append does', async () => {
    await store.roomLog.append('log-10', entries('1', '2'));
    await store.roomLog.putSnapshot('log-11', 7, Buffer.from('state@7'), AT);

    const seqs = store.roomLog.appendNow([
      { roomId: 'log-10', entries: entries('3') },
      { roomId: 'log-11', entries: entries('8', '9') },
      { roomId: 'log-12', entries: entries('1') },
    ]);

    if (store.dialect === 'postgres') {
      expect(seqs).toBeUndefined();
      return;
    }
    expect(seqs).toEqual([[3], [8, 9], [1]]);
    expect((await store.roomLog.readAfter('log-11', 0)).map((row) => row.seq)).toEqual([8, 9]);
    expect(await store.roomLog.append('log-10', entries('4'))).toEqual([4]);
  });

  it('appendNow writes nothing while a transaction holds the connection', async () => {
    let during: number[][] | undefined = [];
    await store.db.transaction().execute(async (trx) => {
      await trx.selectFrom('room_log').select('seq').limit(1).execute();
      during = store.roomLog.appendNow([{ roomId: 'log-13', entries: entries('a') }]);
    });

    expect(during).toBeUndefined();
    expect(await store.roomLog.readAfter('log-13', 0)).toEqual([]);
    expect(await store.roomLog.append('log-13', entries('b'))).toEqual([1]);
  });

  it('clear forgets the log and the snapshot; numbering starts again at 1', async () => {
    await store.roomLog.append('log-9', entries('1', '2', '3'));
    await store.roomLog.putSnapshot('log-9', 2, Buffer.from('state@2'), AT);
    await store.roomLog.append('log-9-other', entries('kept'));

    await store.roomLog.clear('log-9');

    expect(await store.roomLog.readAfter('log-9', 0)).toEqual([]);
    expect(await store.roomLog.getSnapshot('log-9')).toBeUndefined();
    expect(await store.roomLog.append('log-9', entries('again'))).toEqual([1]);
    expect(await store.roomLog.readAfter('log-9-other', 0)).toHaveLength(1);
  });
});
