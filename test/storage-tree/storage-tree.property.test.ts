import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPosition } from '../../src/storage-tree/position.js';
import type { SerializedCrdt } from '../../src/storage-tree/ops.js';
import { StorageTree } from '../../src/storage-tree/storage-tree.js';

type Items = Array<[string, SerializedCrdt]>;

/** One step of one simulated actor; numbers pick targets in the tree as it is then. */
interface Step {
  actor: number;
  kind: number;
  pick: number;
  other: number;
  key: number;
  garbage: unknown;
}

const KEYS = ['a', '!', '"', '#', '!!', '!"', 'b', '', '$ '];

const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  actor: fc.integer({ min: 1, max: 4 }),
  kind: fc.nat(18),
  pick: fc.nat(1000),
  other: fc.nat(1000),
  key: fc.nat(KEYS.length - 1),
  garbage: fc.jsonValue({ maxDepth: 3 }),
});

/** Turns a step into the ops of one message, aimed at the nodes the tree holds now. */
function opsFor(step: Step, items: Items, clock: { next: number; sent: unknown[][] }): unknown[] {
  const pick = (index: number) => items[index % items.length] as [string, SerializedCrdt];
  const lists = items.filter(([, node]) => node.type === 1);
  // List ops aim at lists most of the time, so that positions collide often.
  const listTarget =
    lists.length > 0 && step.pick % 4 !== 0
      ? (lists[step.pick % lists.length] as [string, SerializedCrdt])
      : undefined;
  const [targetId] =
    step.kind >= 7 && step.kind !== 10 && listTarget ? listTarget : pick(step.pick);
  const [otherId] = pick(step.other);
  const key = KEYS[step.key] as string;
  const newId = () => `${step.actor}:${clock.next++}`;
  const opId = () => `${step.actor}:${clock.next++}`;
  const create = (type: number, extra: object = {}) => ({
    type,
    id: newId(),
    opId: opId(),
    parentId: targetId,
    parentKey: key,
    ...(type === 4 ? { data: { n: step.other } } : {}),
    ...(type === 8 ? { data: step.garbage } : {}),
    ...extra,
  });

  switch (step.kind) {
    case 0:
      return [{ type: 3, id: targetId, opId: opId(), data: { [key]: step.garbage } }];
    case 1:
      return [{ type: 6, id: targetId, opId: opId(), key }];
    case 2:
      return [{ type: 5, id: targetId, opId: opId() }];
    case 3:
      return [{ type: 1, id: targetId, opId: opId(), parentKey: key }];
    case 4:
      return [create(4)];
    case 5:
      return [create(2)];
    case 6:
      return [create(7)];
    case 7:
      return [create(8)];
    case 8:
      return [create(8, { intent: 'push' })];
    case 9:
      return [create(8, { intent: 'set', deletedId: otherId })];
    case 10: {
      // A nested create, the way a client sends a new LiveObject holding a LiveList.
      const objectId = newId();
      const listId = newId();
      return [
        { type: 4, id: objectId, opId: opId(), parentId: targetId, parentKey: key, data: {} },
        { type: 2, id: listId, opId: opId(), parentId: objectId, parentKey: 'l' },
        {
          type: 8,
          id: newId(),
          opId: opId(),
          parentId: listId,
          parentKey: '!',
          data: 1,
          intent: 'set',
        },
      ];
    }
    case 11:
      // A reused id: what a resent offline op or a hostile client sends.
      return [{ ...create(4), id: otherId }];
    case 12:
      return [{ type: 9, id: newId(), opId: opId(), parentId: targetId, parentKey: key, data: [] }];
    case 13:
      return [step.garbage];
    case 14:
      return [{ type: step.other % 14, id: targetId, opId: opId(), data: step.garbage }];
    case 16:
      // A resend of an earlier message, as a client sends its unacknowledged ops again.
      return clock.sent[step.other % Math.max(1, clock.sent.length)] ?? [];
    default:
      return [create(8, { parentKey: String.fromCharCode(32 + (step.other % 95)) })];
  }
}

/** Every structural rule a tree must keep, checked on its serialized form. */
function expectWellFormed(items: Items): void {
  const byId = new Map(items);
  expect(items[0]?.[0]).toBe('root');
  expect(byId.size).toBe(items.length);

  const seen = new Set<string>();
  const keysByParent = new Map<string, string[]>();
  for (const [id, node] of items) {
    if ('parentId' in node) {
      expect(seen.has(node.parentId)).toBe(true);
      const parent = byId.get(node.parentId) as SerializedCrdt;
      expect(parent.type).not.toBe(3);
      if (parent.type === 0) {
        expect(node.type).not.toBe(3);
        expect(Object.hasOwn(parent.data, node.parentKey)).toBe(false);
      }
      if (parent.type === 1) {
        expect(isPosition(node.parentKey)).toBe(true);
      }
      const keys = keysByParent.get(node.parentId) ?? [];
      keys.push(node.parentKey);
      keysByParent.set(node.parentId, keys);
    }
    seen.add(id);
  }
  for (const [parentId, keys] of keysByParent) {
    expect(new Set(keys).size).toBe(keys.length);
    if (byId.get(parentId)?.type === 1) {
      expect([...keys].sort()).toEqual(keys);
    }
  }
}

function opIdsIn(ops: unknown[]): string[] {
  return ops.flatMap((op) =>
    typeof op === 'object' && op !== null && typeof (op as { opId?: unknown }).opId === 'string'
      ? [(op as { opId: string }).opId]
      : [],
  );
}

describe('a tree under random ops from several actors', () => {
  it('stays well-formed, answers every op, and round-trips through both serial forms', () => {
    fc.assert(
      fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 120 }), (steps) => {
        const start = {
          liveblocksType: 'LiveObject',
          data: {
            list: { liveblocksType: 'LiveList', data: ['x', 'y'] },
            map: { liveblocksType: 'LiveMap', data: { k: 1 } },
            obj: { liveblocksType: 'LiveObject', data: { v: 1 } },
          },
        };
        let startClock = 0;
        const tree = StorageTree.fromPlainLson(start, () => `0:${startClock++}`);
        const replay = StorageTree.fromSerialized(tree.serialize());
        const clock = { next: 0, sent: [] as unknown[][] };

        for (const step of steps) {
          const ops = opsFor(step, tree.serialize(), clock);
          clock.sent.push(ops);
          const result = tree.apply(ops, { actor: step.actor });

          // The same ordered ops give the same replies anywhere.
          expect(replay.apply(structuredClone(ops), { actor: step.actor })).toEqual(result);

          // Every op is answered: acknowledged, ignored or refused.
          const answered = new Set([
            ...opIdsIn(result.toSender),
            ...(result.rejected?.opIds ?? []),
          ]);
          for (const opId of opIdsIn(ops)) {
            expect(answered.has(opId)).toBe(true);
          }
          expect(opIdsIn(result.toOthers)).toEqual([]);
        }

        const items = tree.serialize();
        expectWellFormed(items);
        expect(replay.serialize()).toEqual(items);
        expect(StorageTree.fromSerialized(items).serialize()).toEqual(items);
        const restored = StorageTree.fromSerialized(items, undefined, tree.createClocks());
        expect(restored.createClocks()).toEqual(tree.createClocks());

        let clockForCopy = 0;
        const copy = StorageTree.fromPlainLson(tree.toPlainLson(), () => `9:${clockForCopy++}`);
        expect(copy.toPlainLson()).toEqual(tree.toPlainLson());
        expect(copy.toJson()).toEqual(tree.toJson());
        expect(copy.nodeCount).toBe(tree.nodeCount);
      }),
      { seed: 11, numRuns: 300 },
    );
  });
});
