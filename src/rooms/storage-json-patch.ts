/**
 * JSON Patch (RFC 6902) over a room's Storage, for `PATCH /v2/rooms/{roomId}/storage/json-patch`,
 * as Liveblocks documents it: paths are JSON Pointers (RFC 6901) that go through LiveObjects,
 * LiveMaps and LiveLists only, never into plain JSON; an object or array given as a value becomes
 * a LiveObject or a LiveList; the operations apply in order, and all of them or none.
 *
 * The patch becomes Storage ops against the tree as it is when its log entry is applied, on a
 * copy first (each operation sees the ones before it), so that every node computes the same ops
 * and a failing operation leaves the room's tree untouched.
 */
import { isWeftError } from '../errors.js';
import { isPlainObject } from '../storage-tree/json-value.js';
import {
  CrdtType,
  OpCode,
  ROOT_ID,
  type JsonObject,
  type SerializedCrdt,
} from '../storage-tree/ops.js';
import { FIRST_POSITION, positionAfter, positionBetween } from '../storage-tree/position.js';
import { DEFAULT_STORAGE_LIMITS } from '../storage-tree/storage-limits.js';
import { StorageTree } from '../storage-tree/storage-tree.js';
import { createOpOf } from './list-resync.js';

/** The ops of a patch, or why it cannot apply. */
export type JsonPatchResult =
  { readonly ok: true; readonly ops: unknown[] } | { readonly ok: false; readonly reason: string };

/** Most operations in one patch: each one walks the whole tree once. */
export const MAX_PATCH_OPERATIONS = 1_000;

const INDEX = /^(0|[1-9][0-9]{0,8})$/;

/** A node of the tree as the patch walks it. */
interface IndexedNode {
  readonly id: string;
  readonly type: number;
  /** Object fields, or a register's value. */
  readonly data: unknown;
  /** Object and map children by key. */
  readonly children: Map<string, IndexedNode>;
  /** List items in order, with their positions. */
  readonly items: IndexedNode[];
  readonly position: string;
}

/** A place a pointer names: a key (or list index) of a live node. */
interface Slot {
  readonly parent: IndexedNode;
  readonly key: string;
}

/** What a slot holds. */
type SlotValue =
  | { readonly kind: 'missing' }
  | { readonly kind: 'live'; readonly node: IndexedNode }
  | { readonly kind: 'plain'; readonly value: unknown; readonly node?: IndexedNode };

/** Thrown inside the translation only, with the reason the patch fails. */
class PatchError extends Error {}

/**
 * The Storage ops (with `rest:<n>` opIds) that apply `patch` to `tree`, new nodes named
 * `actor:<n>`; or the reason the patch fails, naming the operation. Does not change `tree`.
 */
export function jsonPatchOps(tree: StorageTree, patch: unknown, actor: number): JsonPatchResult {
  if (!Array.isArray(patch)) return fail('the body must be an array of operations');
  if (patch.length > MAX_PATCH_OPERATIONS) {
    return fail(`a patch may hold at most ${MAX_PATCH_OPERATIONS} operations`);
  }

  const scratch = StorageTree.fromSerialized(tree.serialize(), DEFAULT_STORAGE_LIMITS);
  let clock = 0;
  const step: Step = { scratch, nextId: () => `${actor}:${clock++}`, ops: [] };
  for (const [index, operation] of patch.entries()) {
    try {
      applyOperation(step, operation);
    } catch (error) {
      // Invalid plain LSON in a value comes as a WeftError of the tree.
      if (!(error instanceof PatchError) && !isWeftError(error)) throw error;
      return fail(`operation ${index}: ${error.message}`);
    }
  }
  return { ok: true, ops: step.ops };
}

/** The copy a patch runs on, and the ops applied to it so far. */
interface Step {
  readonly scratch: StorageTree;
  readonly nextId: () => string;
  readonly ops: unknown[];
}

function applyOperation(step: Step, operation: unknown): void {
  if (!isPlainObject(operation) || typeof operation.op !== 'string') {
    throw new PatchError('each operation must be an object with an "op"');
  }
  const path = pointer(operation.path, 'path');

  switch (operation.op) {
    case 'test': {
      const expected = required(operation, 'value');
      const actual = jsonAt(indexOf(step), path);
      if (actual === undefined || !jsonEqual(actual, expected)) {
        throw new PatchError(`test failed at "${String(operation.path)}"`);
      }
      return;
    }
    case 'add':
      return run(step, add(indexOf(step), path, toLson(required(operation, 'value')), step));
    case 'replace':
      return run(step, replace(indexOf(step), path, toLson(required(operation, 'value')), step));
    case 'remove':
      return run(step, remove(indexOf(step), path));
    case 'copy': {
      const from = pointer(operation.from, 'from');
      const value = lsonAt(indexOf(step), from);
      return run(step, add(indexOf(step), path, value, step));
    }
    case 'move': {
      const from = pointer(operation.from, 'from');
      if (from.length < path.length && from.every((segment, i) => segment === path[i])) {
        throw new PatchError('"from" must not hold "path"');
      }
      const value = lsonAt(indexOf(step), from);
      run(step, remove(indexOf(step), from));
      return run(step, add(indexOf(step), path, value, step));
    }
    default:
      throw new PatchError(`unknown op "${operation.op}"`);
  }
}

/** Applies ops to the copy and keeps them; a refusal (a limit) fails the patch. */
function run(step: Step, ops: Array<Record<string, unknown>>): void {
  const numbered = ops.map((op, i) => ({ ...op, opId: `rest:${step.ops.length + i}` }));
  const result = step.scratch.apply(numbered, { actor: 0 });
  if (result.rejected) throw new PatchError(result.rejected.reason);
  step.ops.push(...numbered);
}

function add(index: IndexedNode, path: string[], value: unknown, step: Step) {
  const slot = locate(index, path);
  const { parent, key } = slot;
  if (parent.type !== CrdtType.LIST) return place(step, parent, key, value);

  const at = key === '-' ? parent.items.length : listIndex(key);
  if (at > parent.items.length) throw new PatchError(`index ${key} is past the list's end`);
  const before = parent.items[at - 1]?.position;
  const after = parent.items[at]?.position;
  const position =
    after === undefined
      ? before === undefined
        ? FIRST_POSITION
        : positionAfter(before)
      : positionBetween(before ?? '', after);
  return place(step, parent, position, value);
}

function replace(index: IndexedNode, path: string[], value: unknown, step: Step) {
  const slot = locate(index, path);
  const current = valueAt(slot);
  if (current.kind === 'missing') throw new PatchError(`nothing to replace at ${describe(path)}`);
  if (slot.parent.type !== CrdtType.LIST) return place(step, slot.parent, slot.key, value);

  const item = slot.parent.items[listIndex(slot.key)]!;
  return place(step, slot.parent, item.position, value, { intent: 'set', deletedId: item.id });
}

function remove(index: IndexedNode, path: string[]): Array<Record<string, unknown>> {
  const slot = locate(index, path);
  const current = valueAt(slot);
  if (current.kind === 'missing') throw new PatchError(`nothing to remove at ${describe(path)}`);
  if (slot.parent.type === CrdtType.OBJECT) {
    return [{ type: OpCode.DELETE_OBJECT_KEY, id: slot.parent.id, key: slot.key }];
  }
  return [{ type: OpCode.DELETE_CRDT, id: (current.node as IndexedNode).id }];
}

/**
 * The ops that put a plain LSON value under `parent` at `key` (a position for a list): a field
 * of an object, a register, or a live node with its descendants.
 */
function place(
  step: Step,
  parent: IndexedNode,
  key: string,
  value: unknown,
  extra: Record<string, unknown> = {},
): Array<Record<string, unknown>> {
  const parentId = parent.id;
  const built = StorageTree.fromPlainLson(
    { liveblocksType: 'LiveObject', data: Object.fromEntries([['v', value]]) },
    step.nextId,
  );
  const [first, ...nodes] = built.serialize() as Array<[string, SerializedCrdt]>;
  const plain = (first![1] as { data: JsonObject }).data.v;

  if (plain !== undefined) {
    if (parent.type === CrdtType.OBJECT) {
      return [
        { type: OpCode.UPDATE_OBJECT, id: parentId, data: Object.fromEntries([[key, plain]]) },
      ];
    }
    return [
      {
        type: OpCode.CREATE_REGISTER,
        id: step.nextId(),
        parentId,
        parentKey: key,
        data: plain,
        ...extra,
      },
    ];
  }
  return nodes.map(([id, node]) => {
    const op = createOpOf(id, node as Parameters<typeof createOpOf>[1]);
    return op.parentId === ROOT_ID ? { ...op, parentId, parentKey: key, ...extra } : op;
  });
}

/** The slot a pointer names; every node before its last segment must be live. */
function locate(root: IndexedNode, path: string[]): Slot {
  if (path.length === 0) throw new PatchError('the root cannot be the target; name a key of it');

  let parent = root;
  for (const [depth, key] of path.slice(0, -1).entries()) {
    const held = valueAt({ parent, key });
    if (held.kind === 'missing') {
      throw new PatchError(`${describe(path.slice(0, depth + 1))} does not exist`);
    }
    if (held.kind === 'plain') {
      throw new PatchError(
        `${describe(path.slice(0, depth + 1))} is plain JSON; paths go through LiveObject, LiveMap and LiveList only`,
      );
    }
    parent = held.node;
  }
  return { parent, key: path.at(-1)! };
}

function valueAt({ parent, key }: Slot): SlotValue {
  if (parent.type === CrdtType.LIST) {
    if (!INDEX.test(key)) return { kind: 'missing' };
    const item = parent.items[Number(key)];
    return liveOrRegister(item);
  }
  const child = parent.children.get(key);
  if (child) return liveOrRegister(child);
  if (parent.type === CrdtType.OBJECT && Object.hasOwn(parent.data as object, key)) {
    return { kind: 'plain', value: (parent.data as Record<string, unknown>)[key] };
  }
  return { kind: 'missing' };
}

function liveOrRegister(node: IndexedNode | undefined): SlotValue {
  if (node === undefined) return { kind: 'missing' };
  if (node.type === CrdtType.REGISTER) return { kind: 'plain', value: node.data, node };
  return { kind: 'live', node };
}

/** The plain LSON at a pointer (a live node keeps its types); throws when nothing is there. */
function lsonAt(root: IndexedNode, path: string[]): unknown {
  const held = path.length === 0 ? liveOrRegister(root) : valueAt(locate(root, path));
  if (held.kind === 'missing') throw new PatchError(`${describe(path)} does not exist`);
  return held.kind === 'plain' ? held.value : nodeLson(held.node);
}

/** The plain JSON at a pointer, or undefined when nothing is there. */
function jsonAt(root: IndexedNode, path: string[]): unknown {
  const held = path.length === 0 ? liveOrRegister(root) : valueAt(locate(root, path));
  if (held.kind === 'missing') return undefined;
  return held.kind === 'plain' ? held.value : nodeJson(held.node);
}

function nodeLson(node: IndexedNode): unknown {
  switch (node.type) {
    case CrdtType.OBJECT:
      return {
        liveblocksType: 'LiveObject',
        data: Object.fromEntries([
          ...Object.entries(node.data as object),
          ...[...node.children].map(([key, child]) => [key, nodeLson(child)]),
        ]),
      };
    case CrdtType.MAP:
      return {
        liveblocksType: 'LiveMap',
        data: Object.fromEntries([...node.children].map(([key, child]) => [key, nodeLson(child)])),
      };
    case CrdtType.LIST:
      return { liveblocksType: 'LiveList', data: node.items.map(nodeLson) };
    default:
      return node.data;
  }
}

function nodeJson(node: IndexedNode): unknown {
  switch (node.type) {
    case CrdtType.OBJECT:
      return Object.fromEntries([
        ...Object.entries(node.data as object),
        ...[...node.children].map(([key, child]) => [key, nodeJson(child)]),
      ]);
    case CrdtType.MAP:
      return Object.fromEntries([...node.children].map(([key, child]) => [key, nodeJson(child)]));
    case CrdtType.LIST:
      return node.items.map(nodeJson);
    default:
      return node.data;
  }
}

/** The tree of the copy as the patch walks it; its root. */
function indexOf(step: Step): IndexedNode {
  const nodes = new Map<string, IndexedNode>();
  let root: IndexedNode | undefined;
  // Items come parents first and list items in order.
  for (const [id, item] of step.scratch.serialize()) {
    const node: IndexedNode = {
      id,
      type: item.type,
      data: 'data' in item ? item.data : undefined,
      children: new Map(),
      items: [],
      position: 'parentKey' in item ? item.parentKey : '',
    };
    nodes.set(id, node);
    if (!('parentId' in item)) {
      root = node;
      continue;
    }
    const parent = nodes.get(item.parentId)!;
    if (parent.type === CrdtType.LIST) parent.items.push(node);
    else parent.children.set(item.parentKey, node);
  }
  return root!;
}

/** A user's value as plain LSON: objects and arrays become LiveObjects and LiveLists. */
function toLson(value: unknown): unknown {
  if (Array.isArray(value)) return { liveblocksType: 'LiveList', data: value.map(toLson) };
  if (!isPlainObject(value)) return value;
  // Plain LSON given as such (a LiveMap, say) is kept: JSON has no other way to ask for one.
  if ('liveblocksType' in value) return value;
  return {
    liveblocksType: 'LiveObject',
    data: Object.fromEntries(Object.entries(value).map(([key, field]) => [key, toLson(field)])),
  };
}

/** The segments of a JSON Pointer (RFC 6901). */
function pointer(value: unknown, field: string): string[] {
  if (typeof value !== 'string' || (value !== '' && !value.startsWith('/'))) {
    throw new PatchError(`"${field}" must be a JSON Pointer such as "/list/0"`);
  }
  if (/~[^01]|~$/.test(value)) throw new PatchError(`"${field}" has a malformed ~ escape`);
  if (value === '') return [];
  return value
    .slice(1)
    .split('/')
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function listIndex(key: string): number {
  if (!INDEX.test(key)) throw new PatchError(`"${key}" is not a list index`);
  return Number(key);
}

function required(operation: Record<string, unknown>, field: string): unknown {
  if (!(field in operation)) throw new PatchError(`"${operation.op}" needs a "${field}"`);
  return operation[field];
}

function describe(path: string[]): string {
  return `"/${path.join('/')}"`;
}

function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => jsonEqual(item, b[i]))
    );
  }
  const keys = Object.keys(a);
  return (
    keys.length === Object.keys(b).length &&
    keys.every(
      (key) =>
        Object.hasOwn(b, key) &&
        jsonEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
    )
  );
}

function fail(reason: string): JsonPatchResult {
  return { ok: false, reason };
}
