import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { Bus, LogEntry, RoomBusHandler, RoomKey } from '../../src/cluster/bus.js';

/** What a bus implementation's test file hands the contract suite. */
export interface BusFixture {
  /** A fresh bus over fresh backing state (store, Redis, …). */
  bus: Bus;
  /** Makes the room known where the implementation needs it (the rooms table for LocalBus). */
  prepareRoom(room: RoomKey): Promise<void>;
  /** Renames a room in the store (which moves its stored log and snapshot), as REST does. */
  renameRoom(roomId: string, newRoomId: string): Promise<void>;
  /** Releases everything the fixture started. The suite closes the bus itself first. */
  dispose(): Promise<void>;
}

/** A handler that records what it receives. */
export function recordingHandler(): RoomBusHandler & { entries: LogEntry[]; batches: number } {
  const recorder = {
    entries: [] as LogEntry[],
    batches: 0,
    onEntries(entries: readonly LogEntry[]) {
      recorder.batches += 1;
      recorder.entries.push(...entries);
    },
    onEphemeral() {},
  };
  return recorder;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/**
 * The behaviour every {@link Bus} must show, run against a fixture factory. LocalBus runs it in
 * test/cluster/local-bus.test.ts; RedisBus reuses it.
 */
export function runBusContract(name: string, createFixture: () => Promise<BusFixture>): void {
  describe(`${name} (Bus contract)`, () => {
    let fixture: BusFixture;
    let bus: Bus;
    let roomCount = 0;

    const newRoom = async (organizationId = 'org-a'): Promise<RoomKey> => {
      roomCount += 1;
      const room = { organizationId, roomId: `room/${roomCount}:${Date.now()}` };
      await fixture.prepareRoom(room);
      return room;
    };

    beforeEach(async () => {
      fixture = await createFixture();
      bus = fixture.bus;
    });

    afterEach(async () => {
      await bus.close();
      await fixture.dispose();
    });

    it('gives appends consecutive seqs starting at 1, in call order', async () => {
      const room = await newRoom();

      const first = await bus.append(room, [bytes('a'), bytes('b')]);
      const second = await bus.append(room, [bytes('c')]);

      expect(first).toEqual([1, 2]);
      expect(second).toEqual([3]);
    });

    it('orders appends made in one turn by call order and resolves each with its own seqs', async () => {
      const room = await newRoom();

      const results = await Promise.all([
        bus.append(room, [bytes('a')]),
        bus.append(room, [bytes('b'), bytes('c')]),
        bus.append(room, [bytes('d')]),
      ]);

      expect(results).toEqual([[1], [2, 3], [4]]);
      const history = await bus.history(room);
      expect(history.entries.map((entry) => text(entry.data))).toEqual(['a', 'b', 'c', 'd']);
    });

    it('delivers every entry to a subscriber once, in seq order, including its own writes', async () => {
      const room = await newRoom();
      const handler = recordingHandler();
      const subscription = await bus.subscribe(room, 0, handler);

      for (let i = 0; i < 20; i += 1) void bus.append(room, [bytes(`e${i}`)]);
      await bus.append(room, [bytes('last')]);

      await vi.waitFor(() => expect(handler.entries).toHaveLength(21));
      expect(handler.entries.map((entry) => entry.seq)).toEqual(
        Array.from({ length: 21 }, (_, i) => i + 1),
      );
      expect(text(handler.entries[20]!.data)).toBe('last');
      await subscription.close();
    });

    it('delivers an entry to the subscriber before the append resolves', async () => {
      const room = await newRoom();
      const handler = recordingHandler();
      await bus.subscribe(room, 0, handler);

      const [seq] = await bus.append(room, [bytes('x')]);

      expect(handler.entries.map((entry) => entry.seq)).toContain(seq);
    });

    it('catches a late subscriber up from afterSeq before new entries', async () => {
      const room = await newRoom();
      await bus.append(room, [bytes('a'), bytes('b'), bytes('c')]);

      const handler = recordingHandler();
      await bus.subscribe(room, 1, handler);
      await bus.append(room, [bytes('d')]);

      await vi.waitFor(() => expect(handler.entries).toHaveLength(3));
      expect(handler.entries.map((entry) => text(entry.data))).toEqual(['b', 'c', 'd']);
    });

    it('feeds every subscriber of a room and none of another room', async () => {
      const room = await newRoom();
      const other = await newRoom();
      const first = recordingHandler();
      const second = recordingHandler();
      const stranger = recordingHandler();
      await bus.subscribe(room, 0, first);
      await bus.subscribe(room, 0, second);
      await bus.subscribe(other, 0, stranger);

      await bus.append(room, [bytes('a')]);
      await bus.append(other, [bytes('z')]);

      await vi.waitFor(() => expect(second.entries).toHaveLength(1));
      expect(first.entries).toHaveLength(1);
      expect(stranger.entries.map((entry) => text(entry.data))).toEqual(['z']);
    });

    it('stops delivering after a subscription is closed', async () => {
      const room = await newRoom();
      const handler = recordingHandler();
      const subscription = await bus.subscribe(room, 0, handler);
      await bus.append(room, [bytes('a')]);
      await vi.waitFor(() => expect(handler.entries).toHaveLength(1));

      await subscription.close();
      await subscription.close();
      await bus.append(room, [bytes('b')]);
      const witness = recordingHandler();
      await bus.subscribe(room, 0, witness);

      await vi.waitFor(() => expect(witness.entries).toHaveLength(2));
      expect(handler.entries).toHaveLength(1);
    });

    it('returns the snapshot and only the entries after it from history', async () => {
      const room = await newRoom();
      await bus.append(room, [bytes('a'), bytes('b'), bytes('c')]);

      expect(await bus.snapshot(room, 2, bytes('state@2'))).toBe(true);
      await bus.append(room, [bytes('d')]);
      const history = await bus.history(room);

      expect(history.snapshot?.seq).toBe(2);
      expect(text(history.snapshot!.data)).toBe('state@2');
      expect(history.entries.map((entry) => [entry.seq, text(entry.data)])).toEqual([
        [3, 'c'],
        [4, 'd'],
      ]);
    });

    it('returns an empty history for a room never written', async () => {
      const room = await newRoom();

      expect(await bus.history(room)).toEqual({ snapshot: null, entries: [] });
    });

    it('keeps counting seqs after a snapshot covered the whole log', async () => {
      const room = await newRoom();
      await bus.append(room, [bytes('a'), bytes('b')]);
      await bus.snapshot(room, 2, bytes('s'));

      expect(await bus.append(room, [bytes('c')])).toEqual([3]);
    });

    it('hands out actor ids 1, 2, 3 … never twice, also under concurrency', async () => {
      const room = await newRoom();

      const actors = await Promise.all(Array.from({ length: 10 }, () => bus.nextActor(room)));

      expect([...actors].sort((a, b) => a - b)).toEqual(
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      expect(await bus.nextActor(room)).toBe(11);
    });

    it('forgets a room: history empties and seqs start over', async () => {
      const room = await newRoom();
      await bus.append(room, [bytes('a'), bytes('b')]);
      await bus.snapshot(room, 1, bytes('s'));

      await bus.forget(room);

      expect(await bus.history(room)).toEqual({ snapshot: null, entries: [] });
      expect(await bus.append(room, [bytes('fresh')])).toEqual([1]);
    });

    it('moves a renamed room to its new id: its entries, then seqs continuing after them', async () => {
      const room = await newRoom();
      await bus.append(room, [bytes('a'), bytes('b')]);
      await bus.snapshot(room, 1, bytes('s'));
      await bus.append(room, [bytes('c')]);
      const renamed = { ...room, roomId: `${room.roomId}-renamed` };

      await fixture.renameRoom(room.roomId, renamed.roomId);
      await bus.moveRoom(room, renamed);

      const history = await bus.history(renamed);
      expect(history.snapshot?.seq).toBe(1);
      expect(history.entries.map((entry) => [entry.seq, text(entry.data)])).toEqual([
        [2, 'b'],
        [3, 'c'],
      ]);
      expect(await bus.append(renamed, [bytes('d')])).toEqual([4]);
      expect(await bus.history(room)).toEqual({ snapshot: null, entries: [] });
    });

    it('keeps rooms of different organizations apart', async () => {
      const a = await newRoom('org-a');
      const b = await newRoom('org-b');

      await bus.append(a, [bytes('a1')]);
      await bus.append(b, [bytes('b1'), bytes('b2')]);

      expect((await bus.history(a)).entries.map((entry) => text(entry.data))).toEqual(['a1']);
      expect((await bus.history(b)).entries.map((entry) => text(entry.data))).toEqual(['b1', 'b2']);
    });

    it('answers ready while open', async () => {
      expect(await bus.ready()).toBe(true);
    });

    it('rejects appends after close', async () => {
      const room = await newRoom();
      await bus.close();

      await expect(bus.append(room, [bytes('late')])).rejects.toThrow();
    });
  });
}
