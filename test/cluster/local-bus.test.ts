import { afterEach, describe, expect, it, vi } from 'vitest';

import { LocalBus } from '../../src/cluster/local-bus.js';
import { createLogger } from '../../src/log.js';
import { openStore, type Store } from '../../src/store/store.js';
import { recordingHandler, runBusContract } from './bus-contract.js';

const logger = createLogger({ level: 'silent' });
const bytes = (text: string) => new TextEncoder().encode(text);

async function openFixture() {
  const store = await openStore({ databaseUrl: 'sqlite::memory:', logger });
  const bus = new LocalBus({
    nodeId: 'node-1',
    roomLog: store.roomLog,
    rooms: store.rooms,
    logger,
  });
  return { store, bus };
}

function createRoom(store: Store, roomId: string, organizationId: string) {
  return store.rooms.create({
    id: roomId,
    organizationId,
    createdAt: new Date().toISOString(),
    lastConnectionAt: null,
    defaultAccesses: [],
    usersAccesses: {},
    groupsAccesses: {},
    metadata: {},
  });
}

runBusContract('LocalBus', async () => {
  const { store, bus } = await openFixture();
  return {
    bus,
    prepareRoom: async (room) => {
      await createRoom(store, room.roomId, room.organizationId);
    },
    renameRoom: async (roomId, newRoomId) => {
      await store.rooms.rename(roomId, newRoomId);
    },
    dispose: () => store.close(),
  };
});

describe('LocalBus', () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
  });

  it('writes the appends of one event-loop turn, of every room, in one store call', async () => {
    const fixture = await openFixture();
    store = fixture.store;
    const rooms = ['r1', 'r1b'].map((roomId) => ({ organizationId: 'default', roomId }));
    for (const room of rooms) await createRoom(store, room.roomId, 'default');
    const appendNow = vi.spyOn(store.roomLog, 'appendNow');

    const seqs = await Promise.all(
      Array.from({ length: 50 }, (_, i) => fixture.bus.append(rooms[i % 2]!, [bytes(`${i}`)])),
    );

    expect(appendNow).toHaveBeenCalledTimes(1);
    expect(appendNow.mock.calls[0]![0].map((append) => append.entries.length)).toEqual([25, 25]);
    expect(seqs.slice(0, 4)).toEqual([[1], [1], [2], [2]]);
    await fixture.bus.close();
  });

  it('writes one room at a time when the store cannot append synchronously', async () => {
    const fixture = await openFixture();
    store = fixture.store;
    const room = { organizationId: 'default', roomId: 'r1c' };
    await createRoom(store, 'r1c', 'default');
    vi.spyOn(store.roomLog, 'appendNow').mockReturnValue(undefined);
    const append = vi.spyOn(store.roomLog, 'append');

    const seqs = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fixture.bus.append(room, [bytes(`${i}`)])),
    );

    expect(append).toHaveBeenCalledTimes(1);
    expect(append.mock.calls[0]![1]).toHaveLength(10);
    expect(seqs.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await fixture.bus.close();
  });

  it('fails only the room whose write fails when rooms were written together', async () => {
    const fixture = await openFixture();
    store = fixture.store;
    const failing = { organizationId: 'default', roomId: 'r2a' };
    const healthy = { organizationId: 'default', roomId: 'r2b' };
    await createRoom(store, 'r2a', 'default');
    await createRoom(store, 'r2b', 'default');
    vi.spyOn(store.roomLog, 'appendNow').mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    const append = store.roomLog.append.bind(store.roomLog);
    vi.spyOn(store.roomLog, 'append').mockImplementation((roomId, entries) =>
      roomId === 'r2a' ? Promise.reject(new Error('disk full')) : append(roomId, entries),
    );

    const results = await Promise.allSettled([
      fixture.bus.append(failing, [bytes('lost')]),
      fixture.bus.append(healthy, [bytes('kept')]),
    ]);

    expect(results[0]).toMatchObject({ status: 'rejected', reason: new Error('disk full') });
    expect(results[1]).toEqual({ status: 'fulfilled', value: [1] });
    await fixture.bus.close();
  });

  it('rejects the appends of a failed write, delivers nothing of them, and keeps working', async () => {
    const fixture = await openFixture();
    store = fixture.store;
    const room = { organizationId: 'default', roomId: 'r2' };
    await createRoom(store, 'r2', 'default');
    const handler = recordingHandler();
    await fixture.bus.subscribe(room, 0, handler);
    vi.spyOn(store.roomLog, 'appendNow').mockImplementationOnce(() => {
      throw new Error('disk full');
    });
    vi.spyOn(store.roomLog, 'append').mockRejectedValueOnce(new Error('disk full'));

    await expect(fixture.bus.append(room, [bytes('lost')])).rejects.toThrow('disk full');
    const seqs = await fixture.bus.append(room, [bytes('kept')]);

    expect(seqs).toEqual([1]);
    expect(handler.entries.map((entry) => new TextDecoder().decode(entry.data))).toEqual(['kept']);
    await fixture.bus.close();
  });

  it('flushes pending appends when it closes', async () => {
    const fixture = await openFixture();
    store = fixture.store;
    const room = { organizationId: 'default', roomId: 'r3' };
    await createRoom(store, 'r3', 'default');

    const pending = fixture.bus.append(room, [bytes('a')]);
    await fixture.bus.close();

    expect(await pending).toEqual([1]);
    expect(await store.roomLog.readAfter('r3', 0)).toHaveLength(1);
  });
});
