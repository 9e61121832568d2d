import { afterEach, describe, expect, it, vi } from 'vitest';

import type { EphemeralMessage } from '../../src/cluster/bus.js';
import { LocalBus } from '../../src/cluster/local-bus.js';
import { DEFAULT_LIMITS } from '../../src/config.js';
import { WeftError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';
import type { RoomEvent, RoomPeer } from '../../src/rooms/room-peer.js';
import { RoomPresence } from '../../src/rooms/room-presence.js';
import { RoomRegistry } from '../../src/rooms/room-registry.js';
import { TIMED_USER_SCOPES } from '../../src/rooms/timed-presences.js';
import { openStore } from '../../src/store/store.js';

const logger = createLogger({ level: 'silent' });

/** A few nodes hosting one room, joined by an in-memory stand-in of the bus's pub/sub. */
function network() {
  let actors = 0;
  const nodes = new Map<string, SimNode>();
  /** Messages in flight, delivered by `flush()`; `paused` holds them back. */
  const inFlight: Array<{ from: string; message: EphemeralMessage }> = [];

  interface SimNode {
    readonly id: string;
    readonly presence: RoomPresence;
    /** Pins the timed users hold on the room. */
    pins: number;
    /** What a connection of this node was told, in order. */
    readonly events: RoomEvent[];
    /** Drops every message this node publishes from now on. */
    mute: boolean;
  }

  const sim = {
    nodes,
    add(id: string): SimNode {
      const node: SimNode = {
        id,
        pins: 0,
        events: [],
        mute: false,
        presence: new RoomPresence({
          nodeId: id,
          publish: (message) => {
            if (!node.mute) inFlight.push({ from: id, message: structuredClone(message) });
          },
          onEmpty: () => {},
          nextActor: async () => ++actors,
          hold: () => {
            node.pins += 1;
            return () => {
              node.pins -= 1;
            };
          },
          logger,
        }),
      };
      node.presence.join(recordingPeer(1000 + nodes.size, node.events));
      nodes.set(id, node);
      return node;
    },
    /** Delivers every message in flight (and those they cause) to every other node. */
    flush() {
      while (inFlight.length > 0) {
        const { from, message } = inFlight.shift()!;
        for (const node of nodes.values()) {
          if (node.id !== from) node.presence.receiveEphemeral(message, from);
        }
      }
    },
    /** Forgets messages in flight, as pub/sub may. */
    drop() {
      inFlight.length = 0;
    },
  };
  return sim;
}

/** A connection stand-in recording what the room tells it. */
function recordingPeer(actor: number, events: RoomEvent[]): RoomPeer {
  return {
    actor,
    user: { id: `socket-${actor}`, info: {}, scopes: ['room:write'] },
    canWrite: true,
    deliver: (event) => events.push(event),
    close: () => {},
    reauthorize: () => {},
  };
}

/** What a connection saw, in short: `joined:actor:user`, `presence:actor:json`, `left:actor`. */
function seen(events: readonly RoomEvent[]): string[] {
  return events.flatMap((event) => {
    switch (event.type) {
      case 'user-joined':
        return [`joined:${event.member.actor}:${event.member.user.id}`];
      case 'user-left':
        return [`left:${event.member.actor}`];
      case 'presence':
        return [`presence:${event.member.actor}:${JSON.stringify(event.data)}`];
      default:
        return [];
    }
  });
}

/** The timed users a node lists: actor, user id and presence. */
function timedMembers(presence: RoomPresence) {
  return presence
    .allMembers()
    .filter((member) => !member.user.id.startsWith('socket-'))
    .map((member) => [member.actor, member.user.id, member.presence]);
}

describe('TimedPresences on one node', () => {
  it('shows a new user to connections: USER_JOINED with its info and scopes, then its presence', async () => {
    const sim = network();
    const a = sim.add('a');

    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: { name: 'Agent' },
      data: { cursor: 1 },
      ttlMs: 60_000,
    });

    expect(seen(a.events)).toEqual([`joined:${actor}:agent`, `presence:${actor}:{"cursor":1}`]);
    const joined = a.events[0] as Extract<RoomEvent, { type: 'user-joined' }>;
    expect(joined.member.user).toEqual({
      id: 'agent',
      info: { name: 'Agent' },
      scopes: TIMED_USER_SCOPES,
    });
    expect(timedMembers(a.presence)).toEqual([[actor, 'agent', { cursor: 1 }]]);
    expect(a.pins).toBe(1);
    a.presence.timed.clear();
  });

  it('keeps the actor of a living user and sends only the new presence when the info is the same', async () => {
    const sim = network();
    const a = sim.add('a');
    const request = { userId: 'agent', info: { name: 'A' }, ttlMs: 60_000 };

    const first = await a.presence.timed.set({ ...request, data: { step: 1 } });
    const second = await a.presence.timed.set({ ...request, data: { step: 2 } });

    expect(second).toBe(first);
    expect(seen(a.events)).toEqual([
      `joined:${first}:agent`,
      `presence:${first}:{"step":1}`,
      `presence:${first}:{"step":2}`,
    ]);
    expect(a.pins).toBe(1);
    a.presence.timed.clear();
  });

  it('replaces the user, same actor, with USER_LEFT then USER_JOINED when its info changes', async () => {
    const sim = network();
    const a = sim.add('a');

    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: { name: 'A' },
      data: {},
      ttlMs: 60_000,
    });
    await a.presence.timed.set({ userId: 'agent', info: { name: 'B' }, data: {}, ttlMs: 60_000 });

    expect(seen(a.events)).toEqual([
      `joined:${actor}:agent`,
      `presence:${actor}:{}`,
      `left:${actor}`,
      `joined:${actor}:agent`,
      `presence:${actor}:{}`,
    ]);
    expect(a.presence.allMembers().find((m) => m.actor === actor)?.user.info).toEqual({
      name: 'B',
    });
    a.presence.timed.clear();
  });

  it('gives concurrent first calls for one user one actor', async () => {
    const sim = network();
    const a = sim.add('a');
    const request = { userId: 'agent', info: undefined, ttlMs: 60_000 };

    const actors = await Promise.all([
      a.presence.timed.set({ ...request, data: { n: 1 } }),
      a.presence.timed.set({ ...request, data: { n: 2 } }),
    ]);

    expect(actors[0]).toBe(actors[1]);
    expect(timedMembers(a.presence)).toHaveLength(1);
    a.presence.timed.clear();
  });

  it('removes the user with USER_LEFT when its ttl passes, renewed by a later call', async () => {
    const sim = network();
    const a = sim.add('a');
    const started = performance.now();

    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: {},
      ttlMs: 150,
    });
    await a.presence.timed.set({ userId: 'agent', info: undefined, data: { n: 2 }, ttlMs: 300 });

    await vi.waitFor(() => expect(seen(a.events)).toContain(`left:${actor}`), { interval: 5 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(timedMembers(a.presence)).toEqual([]);
    expect(a.pins).toBe(0);
  });

  it('never replaces a connection of the same actor', async () => {
    const sim = network();
    const a = sim.add('a');
    const events: RoomEvent[] = [];
    a.presence.join(recordingPeer(7, events));

    a.presence.timed.receive(
      {
        type: 'timed-presence',
        actor: 7,
        user: { id: 'intruder', info: undefined, scopes: [] },
        presence: {},
        ttlMs: 60_000,
        version: Date.now(),
      },
      'b',
    );

    expect(a.presence.allMembers().find((m) => m.actor === 7)?.user.id).toBe('socket-7');
    a.presence.timed.clear();
  });
});

describe('TimedPresences across nodes', () => {
  it("shows one node's timed user to the other nodes' connections and expires it there on their own", async () => {
    const sim = network();
    const a = sim.add('a');
    const b = sim.add('b');
    sim.flush();
    b.events.length = 0;

    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: { name: 'A' },
      data: { x: 1 },
      ttlMs: 200,
    });
    sim.flush();

    expect(seen(b.events)).toEqual([`joined:${actor}:agent`, `presence:${actor}:{"x":1}`]);
    expect(b.pins).toBe(0);
    // Whatever a says from now on is lost: b still lets the user go at its ttl.
    a.mute = true;
    await vi.waitFor(() => expect(seen(b.events)).toContain(`left:${actor}`), { interval: 5 });
    expect(timedMembers(b.presence)).toEqual([]);
  });

  it('lets a later call on another node take the user over, keeping its actor', async () => {
    const sim = network();
    const a = sim.add('a');
    const b = sim.add('b');
    sim.flush();
    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: { on: 'a' },
      ttlMs: 60_000,
    });
    sim.flush();

    const again = await b.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: { on: 'b' },
      ttlMs: 60_000,
    });
    sim.flush();

    expect(again).toBe(actor);
    expect(timedMembers(a.presence)).toEqual([[actor, 'agent', { on: 'b' }]]);
    expect([a.pins, b.pins]).toEqual([0, 1]);
    expect(seen(a.events).at(-1)).toBe(`presence:${actor}:{"on":"b"}`);
    a.presence.timed.clear();
    b.presence.timed.clear();
  });

  it('converges on the latest call when two nodes set one user before hearing of each other', async () => {
    const sim = network();
    const a = sim.add('a');
    const b = sim.add('b');
    const c = sim.add('c');
    sim.flush();

    const fromA = await a.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: { on: 'a' },
      ttlMs: 60_000,
    });
    const fromB = await b.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: { on: 'b' },
      ttlMs: 60_000,
    });
    sim.flush();

    const views = [a, b, c].map((node) => timedMembers(node.presence));
    expect(fromA).not.toBe(fromB);
    // Same wall-clock millisecond or not, every node keeps the same one of the two.
    expect(views[1]).toEqual(views[0]);
    expect(views[2]).toEqual(views[0]);
    expect(views[0]).toHaveLength(1);
    expect(a.pins + b.pins).toBe(1);
    for (const node of [a, b, c]) node.presence.timed.clear();
  });

  it('announces its timed users, with their remaining ttl, to a node that loads the room later', async () => {
    const sim = network();
    const a = sim.add('a');
    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: { x: 1 },
      ttlMs: 250,
    });
    sim.drop();

    const late = sim.add('late');
    late.presence.announce();
    sim.flush();

    expect(timedMembers(late.presence)).toEqual([[actor, 'agent', { x: 1 }]]);
    await vi.waitFor(() => expect(seen(late.events)).toContain(`left:${actor}`), { interval: 5 });
  });

  it('forgets the timed users of a node that stopped', async () => {
    const sim = network();
    const a = sim.add('a');
    const b = sim.add('b');
    sim.flush();
    const actor = await a.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: {},
      ttlMs: 60_000,
    });
    sim.flush();

    b.presence.dropNodes(['a']);

    expect(seen(b.events).at(-1)).toBe(`left:${actor}`);
    expect(timedMembers(b.presence)).toEqual([]);
    // b no longer counts it as living: a new call there takes a new actor.
    const next = await b.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: {},
      ttlMs: 60_000,
    });
    expect(next).not.toBe(actor);
    a.presence.timed.clear();
    b.presence.timed.clear();
  });

  it('ignores malformed timed-presence messages', () => {
    const sim = network();
    const a = sim.add('a');

    for (const message of [
      { type: 'timed-presence', actor: 'x', user: { id: 'u' }, presence: {}, ttlMs: 1, version: 1 },
      { type: 'timed-presence', actor: 3, user: { id: 1 }, presence: {}, ttlMs: 1, version: 1 },
      { type: 'timed-presence', actor: 3, user: { id: 'u' }, presence: [], ttlMs: 1, version: 1 },
      { type: 'timed-presence', actor: 3, user: { id: 'u' }, presence: {}, ttlMs: -1, version: 1 },
      { type: 'timed-presence', actor: 3, user: { id: 'u' }, presence: {}, ttlMs: 1 },
    ]) {
      a.presence.receiveEphemeral(message, 'b');
    }

    expect(timedMembers(a.presence)).toEqual([]);
  });
});

describe('a room holding timed users', () => {
  const stores: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of stores.splice(0)) await close();
  });

  it('stays loaded while it shows a timed user and unloads once the user expired', async () => {
    const store = await openStore({ databaseUrl: 'sqlite::memory:', logger });
    const bus = new LocalBus({ nodeId: 'n1', roomLog: store.roomLog, rooms: store.rooms, logger });
    const registry = new RoomRegistry({
      bus,
      logger,
      limits: { ...DEFAULT_LIMITS, roomIdleUnloadMs: 20 },
    });
    stores.push(async () => {
      await registry.close();
      await bus.close();
      await store.close();
    });
    const record = await store.rooms.create({
      id: 'held',
      organizationId: 'org',
      createdAt: new Date().toISOString(),
      lastConnectionAt: null,
      defaultAccesses: [],
      usersAccesses: {},
      groupsAccesses: {},
      metadata: {},
    });

    const room = await registry.acquire(record);
    const actor = await room.presence.timed.set({
      userId: 'agent',
      info: undefined,
      data: {},
      ttlMs: 300,
    });
    room.unpin();
    const heldSince = performance.now();

    expect(actor).toBe(1);
    await vi.waitFor(() => expect(registry.size).toBe(0), { timeout: 3_000, interval: 5 });
    expect(performance.now() - heldSince).toBeGreaterThanOrEqual(250);
    expect(() => room.presence.timed.clear()).not.toThrow();
  });

  it('drops its timed users when the room is dropped', async () => {
    const store = await openStore({ databaseUrl: 'sqlite::memory:', logger });
    const bus = new LocalBus({ nodeId: 'n1', roomLog: store.roomLog, rooms: store.rooms, logger });
    const registry = new RoomRegistry({ bus, logger, limits: DEFAULT_LIMITS });
    stores.push(async () => {
      await registry.close();
      await bus.close();
      await store.close();
    });
    const record = await store.rooms.create({
      id: 'dropped',
      organizationId: 'org',
      createdAt: new Date().toISOString(),
      lastConnectionAt: null,
      defaultAccesses: [],
      usersAccesses: {},
      groupsAccesses: {},
      metadata: {},
    });
    const room = await registry.acquire(record);
    await room.presence.timed.set({ userId: 'agent', info: undefined, data: {}, ttlMs: 60_000 });
    room.unpin();

    await registry.drop('dropped', new WeftError('ROOM_DELETED'), { forget: true });

    expect(registry.size).toBe(0);
    expect(room.isIdle).toBe(true);
  });
});
