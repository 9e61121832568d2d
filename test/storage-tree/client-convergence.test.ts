import { LiveList, LiveMap, LiveObject } from '@liveblocks/client';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';
import { Simulation, type SimulatedUser } from './client-simulation.js';

let simulation: Simulation | undefined;
afterEach(() => {
  simulation?.close();
  simulation = undefined;
});

describe('real clients against the storage tree', () => {
  it('converges after concurrent inserts at the same list position', async () => {
    simulation = new Simulation();
    const a = await simulation.join({ list: new LiveList<number>([]) } as never);
    const b = await simulation.join();
    await simulation.settle();

    const listOf = (user: typeof a) =>
      (user.room.getStorageSnapshot() as LiveObject<{ list: LiveList<number> }>).get('list');
    listOf(a).push(1);
    listOf(b).push(2);
    listOf(a).insert(3, 0);
    listOf(b).insert(4, 0);
    await simulation.settle();

    const expected = simulation.tree.toJson();
    expect(a.room.getStorageSnapshot()?.toJSON()).toEqual(expected);
    expect(b.room.getStorageSnapshot()?.toJSON()).toEqual(expected);
    expect((expected as { list: number[] }).list).toHaveLength(4);
  });
});

type Live = LiveObject<Record<string, never>> | LiveMap<string, never> | LiveList<never>;
type Action =
  | { kind: 'edit' | 'batch'; user: number; pick: number; variant: number; value: number }
  | { kind: 'toServer' | 'toClient' | 'disconnect' | 'undo' | 'redo'; user: number }
  | { kind: 'replace'; user: number; value: number };

const KEYS = ['a', 'b', 'c'];

function liveNodes(root: LiveObject<never>): Array<{ node: Live; depth: number }> {
  const found: Array<{ node: Live; depth: number }> = [];
  const pending: Array<{ node: Live; depth: number }> = [{ node: root as Live, depth: 0 }];
  while (pending.length > 0) {
    const entry = pending.pop() as { node: Live; depth: number };
    found.push(entry);
    const values: unknown[] =
      entry.node instanceof LiveObject
        ? Object.keys(entry.node.toJSON()).map((key) =>
            (entry.node as LiveObject<Record<string, never>>).get(key),
          )
        : entry.node instanceof LiveMap
          ? [...entry.node.values()]
          : [...(entry.node as LiveList<never>)];
    for (const value of values) {
      if (value instanceof LiveObject || value instanceof LiveMap || value instanceof LiveList) {
        pending.push({ node: value as Live, depth: entry.depth + 1 });
      }
    }
  }
  return found;
}

function makeValue(seed: number, depth: number): unknown {
  if (depth >= 3) {
    return seed;
  }
  switch (seed % 5) {
    case 1:
      return new LiveObject({ n: seed, inner: new LiveObject({ m: seed }) });
    case 2:
      return new LiveList([seed, new LiveObject({ x: seed })]);
    case 3:
      return new LiveMap([['k', seed]]);
    default:
      return seed % 2 === 0 ? seed : `s${seed}`;
  }
}

function edit(root: LiveObject<never>, action: Extract<Action, { kind: 'edit' | 'batch' }>): void {
  const nodes = liveNodes(root);
  const { node, depth } = nodes[action.pick % nodes.length] as { node: Live; depth: number };
  const key = KEYS[action.value % KEYS.length] as string;
  const value = () => makeValue(action.value, depth) as never;
  if (node instanceof LiveObject) {
    switch (action.variant % 5) {
      case 0:
      case 1:
        node.set(key as never, value());
        return;
      case 2:
        node.update({
          [key]: value(),
          [KEYS[(action.value + 1) % 3] as string]: action.value,
        } as never);
        return;
      case 3:
        node.delete(key as never);
        return;
      default:
        node.set(key as never, action.value as never);
        return;
    }
  }
  if (node instanceof LiveMap) {
    if (action.variant % 3 === 2) {
      node.delete(key);
    } else {
      node.set(key, value());
    }
    return;
  }
  const length = node.length;
  const index = length === 0 ? 0 : action.value % length;
  switch (action.variant % 7) {
    case 0:
      node.push(value());
      return;
    case 1:
      node.insert(value(), length === 0 ? 0 : action.value % (length + 1));
      return;
    case 2:
      if (length > 0) node.delete(index);
      return;
    case 3:
      if (length > 1) node.move(index, (action.value * 7 + 1) % length);
      return;
    case 4:
      if (length > 0) node.set(index, value());
      return;
    case 5:
      if (action.value % 4 === 0) node.clear();
      else node.push(value());
      return;
    default:
      node.push(action.value as never);
      node.insert(value(), 0);
      return;
  }
}

const USERS = 3;

const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constantFrom('edit' as const, 'edit' as const, 'batch' as const),
      user: fc.nat(USERS - 1),
      pick: fc.nat(50),
      variant: fc.nat(50),
      value: fc.nat(1000),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('toServer' as const), user: fc.nat(USERS - 1) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('toClient' as const), user: fc.nat(USERS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('undo' as const, 'redo' as const),
      user: fc.nat(USERS - 1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('disconnect' as const), user: fc.nat(USERS - 1) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('replace' as const),
      user: fc.constant(0),
      value: fc.nat(1000),
    }),
  },
);

let replacements = 0;

/** A storage written over REST: the current content with new ids, one field changed. */
function replacement(simulation: Simulation, value: number): StorageTree {
  const plain = simulation.tree.toPlainLson() as { liveblocksType: string; data: object };
  const data = { ...plain.data, [KEYS[value % KEYS.length] as string]: value };
  const prefix = `r${replacements++}`;
  let clock = 0;
  return StorageTree.fromPlainLson({ ...plain, data }, () => `${prefix}:${clock++}`);
}

function rootOf(user: SimulatedUser): LiveObject<never> {
  return user.room.getStorageSnapshot() as unknown as LiveObject<never>;
}

async function perform(
  simulation: Simulation,
  users: SimulatedUser[],
  action: Action,
): Promise<void> {
  const user = users[action.user] as SimulatedUser;
  switch (action.kind) {
    case 'edit':
      edit(rootOf(user), action);
      return;
    case 'batch':
      // Two edits in one message and one history entry, as room.batch sends them.
      user.room.batch(() => {
        edit(rootOf(user), action);
        edit(rootOf(user), { ...action, pick: action.pick + 1, variant: action.variant + 1 });
      });
      return;
    case 'toServer':
      simulation.deliverToServer(user);
      return;
    case 'toClient':
      simulation.deliverToClient(user);
      return;
    case 'undo':
      user.room.history.undo();
      return;
    case 'redo':
      user.room.history.redo();
      return;
    case 'disconnect':
      simulation.disconnect(user);
      await simulation.reconnected(user);
      return;
    case 'replace':
      simulation.replaceStorage(replacement(simulation, action.value));
      return;
  }
}

async function run(simulation: Simulation, users: SimulatedUser[], actions: Action[]) {
  for (const action of actions) {
    await perform(simulation, users, action);
  }
  await simulation.settle();
}

async function expectConverged(simulation: Simulation, users: SimulatedUser[]): Promise<void> {
  expect(simulation.clientErrors).toEqual([]);
  const expected = simulation.tree.toJson();
  for (const [index, user] of users.entries()) {
    const connection = user.connection();
    const pool = (user.room as unknown as { _dump(): string })._dump();
    const frames = simulation.historyOf(user);
    expect(
      rootOf(user).toJSON(),
      `user ${index} (actor ${connection?.actor})\n${pool}\n${frames}`,
    ).toEqual(expected);
  }
}

// Runs and seed can be raised from the environment to search longer, e.g.
// STORAGE_SIMULATION_RUNS=500 STORAGE_SIMULATION_SEED=7 STORAGE_SIMULATION_STEPS=200 npx vitest run <this file>.
describe('real clients under random concurrent edits', () => {
  it('end in the server state, and so does a client joining afterwards', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionArbitrary, {
          minLength: 10,
          maxLength: Number(process.env.STORAGE_SIMULATION_STEPS ?? 80),
        }),
        async (actions) => {
          const current = new Simulation();
          simulation = current;
          try {
            const users: SimulatedUser[] = [];
            users.push(
              await current.join({
                obj: new LiveObject({ v: 0 }),
                map: new LiveMap(),
                list: new LiveList([]),
              } as never),
            );
            for (let i = 1; i < USERS; i++) {
              users.push(await current.join());
            }
            await current.settle();

            await run(current, users, actions);
            await expectConverged(current, users);

            // Every client must still hold every node live: one that only displays a node it
            // dropped would lose the next edits of it. Touch every node from every client.
            for (const user of users) {
              const count = liveNodes(rootOf(user)).length;
              for (let pick = 0; pick < count; pick++) {
                edit(rootOf(user), { kind: 'edit', user: 0, pick, variant: 0, value: pick });
              }
            }
            await current.settle();
            await expectConverged(current, users);

            const late = await current.join();
            expect(rootOf(late).toJSON()).toEqual(current.tree.toJson());
          } finally {
            current.close();
            simulation = undefined;
          }
        },
      ),
      {
        seed: Number(process.env.STORAGE_SIMULATION_SEED ?? 42),
        numRuns: Number(process.env.STORAGE_SIMULATION_RUNS ?? 40),
        endOnFailure: true,
      },
    );
  }, 300_000);
});
