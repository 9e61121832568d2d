/**
 * The wire forms of a whole tree: the v7 `[id, SerializedCrdt]` items, the v8 compact nodes,
 * and reading the v7 form back (how snapshots are stored). Both forms list the root first and
 * every parent before its children, which is the order clients rebuild a tree in.
 */
import { WeftError } from '../errors.js';
import { isJson, isJsonObject, isPlainObject } from './json-value.js';
import {
  CrdtType,
  ROOT_ID,
  type CompactNode,
  type JsonObject,
  type SerializedCrdt,
} from './ops.js';
import { isPosition } from './position.js';
import type { StorageLimits } from './storage-limits.js';
import type { LiveNode, ObjectNode } from './tree-node.js';
import { TreeState, type NodeSpec } from './tree-state.js';
import { visit } from './tree-walk.js';

/** The tree as v7 `STORAGE_STATE_V7` items. Plain data is copied, so later ops do not show. */
export function serializeTree(state: TreeState): Array<[string, SerializedCrdt]> {
  const items: Array<[string, SerializedCrdt]> = [];
  visit(state.root, (node) => {
    items.push([node.id, serializeNode(node)]);
    return true;
  });
  return items;
}

/** The tree as v8 `STORAGE_CHUNK` nodes. Plain data is copied, so later ops do not show. */
export function compactTree(state: TreeState): CompactNode[] {
  const nodes: CompactNode[] = [];
  visit(state.root, (node) => {
    nodes.push(compactNode(node));
    return true;
  });
  return nodes;
}

/**
 * Rebuilds a tree from v7 items in any order. Throws a `WeftError` when the items do not form
 * one well-formed tree under `"root"` (unknown types, missing or unfit parents, two nodes at
 * one key or position, malformed positions, unreachable nodes).
 */
export function deserializeTree(
  items: ReadonlyArray<readonly [string, unknown]>,
  limits: StorageLimits,
): TreeState {
  if (!Array.isArray(items)) {
    throw malformed('items must be an array');
  }

  let rootData: JsonObject | undefined;
  const childrenOf = new Map<string, Array<[string, ChildItem]>>();
  const seen = new Set<string>();
  for (const item of items) {
    if (!Array.isArray(item) || item.length !== 2 || typeof item[0] !== 'string') {
      throw malformed('each item must be [id, node]');
    }
    const [id, raw] = item as [string, unknown];
    if (seen.has(id)) {
      throw malformed(`node ${id} appears twice`);
    }
    seen.add(id);
    if (id === ROOT_ID) {
      rootData = readRoot(raw, limits);
      continue;
    }
    const child = readChild(id, raw, limits);
    const siblings = childrenOf.get(child.parentId);
    if (siblings === undefined) {
      childrenOf.set(child.parentId, [[id, child]]);
    } else {
      siblings.push([id, child]);
    }
  }
  if (rootData === undefined) {
    throw malformed('the root node is missing');
  }

  const state = new TreeState(limits, Object.entries(rootData));
  const pending: LiveNode[] = [state.root];
  while (pending.length > 0) {
    const parent = pending.pop() as LiveNode;
    const children = childrenOf.get(parent.id);
    childrenOf.delete(parent.id);
    if (children === undefined) {
      continue;
    }
    if (parent.type === CrdtType.REGISTER) {
      throw malformed(`register ${parent.id} cannot have children`);
    }
    for (const [id, child] of children) {
      pending.push(attachChild(state, parent, id, child));
    }
    // Stored lists come in position order, so each insertion lands at the end; two items at
    // one position end up side by side.
    if (parent.type === CrdtType.LIST) {
      for (let i = 1; i < parent.items.length; i++) {
        if (parent.items[i - 1]?.key === parent.items[i]?.key) {
          throw malformed(`two items of list ${parent.id} share a position`);
        }
      }
    }
  }
  if (childrenOf.size > 0) {
    throw malformed('some nodes are not under the root');
  }
  return state;
}

/** A v7 child item, checked. */
interface ChildItem {
  readonly parentId: string;
  readonly parentKey: string;
  readonly spec: NodeSpec;
}

function serializeNode(node: LiveNode): SerializedCrdt {
  if (node.parent === null) {
    return { type: CrdtType.OBJECT, data: Object.fromEntries((node as ObjectNode).data) };
  }
  const parentId = node.parent.id;
  const parentKey = node.key;
  switch (node.type) {
    case CrdtType.OBJECT:
      return { type: node.type, parentId, parentKey, data: Object.fromEntries(node.data) };
    case CrdtType.REGISTER:
      return { type: node.type, parentId, parentKey, data: node.data };
    default:
      return { type: node.type, parentId, parentKey };
  }
}

function compactNode(node: LiveNode): CompactNode {
  if (node.parent === null) {
    return [ROOT_ID, Object.fromEntries((node as ObjectNode).data)];
  }
  const parentId = node.parent.id;
  switch (node.type) {
    case CrdtType.OBJECT:
      return [node.id, node.type, parentId, node.key, Object.fromEntries(node.data)];
    case CrdtType.REGISTER:
      return [node.id, node.type, parentId, node.key, node.data];
    default:
      return [node.id, node.type, parentId, node.key];
  }
}

function readRoot(raw: unknown, limits: StorageLimits): JsonObject {
  if (!isPlainObject(raw) || raw.type !== CrdtType.OBJECT) {
    throw malformed('the root must be an object node');
  }
  if (!isJsonObject(raw.data, limits.maxJsonDepth)) {
    throw malformed('the root data must be a JSON object');
  }
  return raw.data;
}

function readChild(id: string, raw: unknown, limits: StorageLimits): ChildItem {
  if (!isPlainObject(raw)) {
    throw malformed(`node ${id} must be an object`);
  }
  const { parentId, parentKey } = raw;
  if (typeof parentId !== 'string' || typeof parentKey !== 'string') {
    throw malformed(`node ${id} needs a string parentId and parentKey`);
  }
  switch (raw.type) {
    case CrdtType.OBJECT:
      if (!isJsonObject(raw.data, limits.maxJsonDepth)) {
        throw malformed(`node ${id} needs JSON object data`);
      }
      return {
        parentId,
        parentKey,
        spec: { type: CrdtType.OBJECT, data: Object.entries(raw.data) },
      };
    case CrdtType.REGISTER:
      if (!isJson(raw.data, limits.maxJsonDepth)) {
        throw malformed(`node ${id} needs JSON data`);
      }
      return { parentId, parentKey, spec: { type: CrdtType.REGISTER, data: raw.data } };
    case CrdtType.LIST:
    case CrdtType.MAP:
      return { parentId, parentKey, spec: { type: raw.type } };
    default:
      throw malformed(`node ${id} has an unsupported type`);
  }
}

function attachChild(state: TreeState, parent: LiveNode, id: string, child: ChildItem): LiveNode {
  const { parentKey, spec } = child;
  switch (parent.type) {
    case CrdtType.OBJECT:
      if (spec.type === CrdtType.REGISTER) {
        throw malformed(`register ${id} cannot be a LiveObject field`);
      }
      if (parent.data.has(parentKey) || parent.children.has(parentKey)) {
        throw malformed(`key ${parentKey} of ${parent.id} is held twice`);
      }
      break;
    case CrdtType.MAP:
      if (parent.children.has(parentKey)) {
        throw malformed(`key ${parentKey} of ${parent.id} is held twice`);
      }
      break;
    case CrdtType.LIST:
      if (!isPosition(parentKey)) {
        throw malformed(`item ${id} has a malformed list position`);
      }
      break;
    case CrdtType.REGISTER:
      throw malformed(`register ${parent.id} cannot have children`);
  }
  return state.attach(id, spec, parent, parentKey);
}

function malformed(detail: string): WeftError {
  return new WeftError('INTERNAL_ERROR', `Stored storage is malformed: ${detail}.`);
}
