/**
 * The remote ops that turn one tree into another on a client, for a write that does not come
 * from a client (a REST replacement of the storage) to reach every connected client without
 * making them reload.
 */
import { fieldSets } from './apply-op.js';
import { CrdtType, OpCode, type Json } from './ops.js';
import type { ObjectNode } from './tree-node.js';
import type { TreeState } from './tree-state.js';
import { createOp, visit } from './tree-walk.js';

/**
 * Ops without `opId`, in the order to send them, that make a client holding `from` hold `to`:
 * deletions first, then field changes of objects both trees share, then creates, parents
 * before children. A node is kept only when both trees have it with the same type, parent and
 * key (position, in a list), under a kept parent; any other node is deleted and created anew.
 */
export function diffTrees(from: TreeState, to: TreeState): unknown[] {
  const kept = keptIds(from, to);
  const deletions: unknown[] = [];
  const fieldChanges: unknown[] = [];
  const creates: unknown[] = [];

  visit(from.root, (node) => {
    if (kept.has(node.id)) {
      return true;
    }
    deletions.push({ type: OpCode.DELETE_CRDT, id: node.id });
    return false;
  });

  visit(to.root, (node) => {
    if (!kept.has(node.id)) {
      creates.push(createOp(node));
      return true;
    }
    if (node.type === CrdtType.OBJECT) {
      fieldChanges.push(...objectChanges(from.nodes.get(node.id) as ObjectNode, node));
    }
    return true;
  });

  return [...deletions, ...fieldChanges, ...creates];
}

/** Ids of the nodes a client may keep: same type, parent and key, under a kept parent. */
function keptIds(from: TreeState, to: TreeState): Set<string> {
  const kept = new Set<string>();
  visit(to.root, (node) => {
    const before = from.nodes.get(node.id);
    const same =
      node.parent === null
        ? true
        : before !== undefined &&
          before.type === node.type &&
          before.parent?.id === node.parent.id &&
          before.key === node.key &&
          kept.has(node.parent.id);
    if (same) {
      kept.add(node.id);
    }
    return same;
  });
  return kept;
}

function objectChanges(before: ObjectNode, after: ObjectNode): unknown[] {
  const changed: Record<string, Json> = {};
  for (const [key, value] of after.data) {
    if (!before.data.has(key) || !jsonEqual(before.data.get(key) as Json, value)) {
      Object.defineProperty(changed, key, { value, enumerable: true, writable: true });
    }
  }
  const removals: unknown[] = [];
  for (const key of before.data.keys()) {
    // A live child created under the key replaces the field by itself.
    if (!after.data.has(key) && !after.children.has(key)) {
      removals.push({ type: OpCode.DELETE_OBJECT_KEY, id: after.id, key });
    }
  }
  return [...fieldSets({ type: OpCode.UPDATE_OBJECT, id: after.id, data: changed }), ...removals];
}

function jsonEqual(a: Json, b: Json): boolean {
  if (a === b) {
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return false;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((value, index) => jsonEqual(value, b[index] as Json))
    );
  }
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && jsonEqual(a[key] as Json, b[key] as Json))
  );
}
