/**
 * Plain LSON, the REST form of Storage (`GET /v2/rooms/{id}/storage?format=plain-lson`, and the
 * body of `POST /v2/rooms/{id}/storage`): live structures are `{ liveblocksType, data }`
 * objects, everything else is plain JSON. Also the plain JSON view (`toJSON()` of a client's
 * root).
 */
import { WeftError } from '../errors.js';
import { isJson, isPlainObject, jsonBytes } from './json-value.js';
import { CrdtType, type Json } from './ops.js';
import { FIRST_POSITION, positionAfter } from './position.js';
import type { StorageLimits } from './storage-limits.js';
import type { LiveNode, ObjectNode, ParentNode } from './tree-node.js';
import { TreeState } from './tree-state.js';

/** The live types plain LSON can describe, by their `liveblocksType`. */
const LIVE_TYPES = {
  LiveObject: CrdtType.OBJECT,
  LiveMap: CrdtType.MAP,
  LiveList: CrdtType.LIST,
} as const;

/** Live types of newer clients that Weft does not store. */
const UNSUPPORTED_LIVE_TYPES = new Set(['LiveText', 'LiveFile']);

/** A live structure in plain LSON. */
type PlainLive =
  | { liveblocksType: 'LiveObject'; data: Record<string, unknown> }
  | { liveblocksType: 'LiveMap'; data: Record<string, unknown> }
  | { liveblocksType: 'LiveList'; data: unknown[] };

/** The plain LSON of a tree. */
export function treeToPlainLson(state: TreeState): unknown {
  return nodeToPlainLson(state.root);
}

/** The plain JSON of a tree: what `root.toJSON()` gives on a client that loaded it. */
export function treeToJson(state: TreeState): unknown {
  return nodeToJson(state.root);
}

/**
 * Builds a tree from plain LSON whose top level is a LiveObject. New node ids come from
 * `nextId`, list items get positions in their order. Throws a `WeftError`
 * (`UNPROCESSABLE_ENTITY`) naming the first problem.
 */
export function treeFromPlainLson(
  value: unknown,
  nextId: () => string,
  limits: StorageLimits,
): TreeState {
  const root = asPlainLive(value, 'the storage');
  if (root?.liveblocksType !== 'LiveObject') {
    throw invalid('the storage must be a LiveObject ({ "liveblocksType": "LiveObject", … })');
  }

  const state = new TreeState(limits);
  const pending: Array<{ parent: ParentNode; live: PlainLive; path: string }> = [
    { parent: state.root, live: root, path: 'root' },
  ];
  while (pending.length > 0) {
    const { parent, live, path } = pending.pop() as (typeof pending)[number];
    for (const [key, where, entry] of entriesOf(live, path)) {
      if (key.length > limits.maxKeyLength) {
        throw invalid(`${where}: keys may have at most ${limits.maxKeyLength} characters`);
      }
      const child = asPlainLive(entry, where);
      if (child === undefined) {
        checkJson(entry, where, limits);
        if (parent.type === CrdtType.OBJECT) {
          parent.data.set(key, entry as Json);
        } else {
          const spec = { type: CrdtType.REGISTER, data: entry as Json } as const;
          attachNew(state, nextId, parent, key, where, spec);
        }
        continue;
      }

      const spec =
        child.liveblocksType === 'LiveObject'
          ? ({ type: CrdtType.OBJECT, data: [] } as const)
          : { type: LIVE_TYPES[child.liveblocksType] };
      const node = attachNew(state, nextId, parent, key, where, spec) as ParentNode;
      pending.push({ parent: node, live: child, path: where });
    }
    if (parent.type === CrdtType.OBJECT) {
      checkObjectSize(parent, path, limits);
    }
  }
  return state;
}

/** `[key, path, value]` of each entry; list items get positions in their order. */
function entriesOf(live: PlainLive, path: string): Array<[string, string, unknown]> {
  if (!Array.isArray(live.data)) {
    return Object.entries(live.data).map(([key, value]) => [key, `${path}.${key}`, value]);
  }
  let position: string | undefined;
  return live.data.map((value, index) => {
    position = position === undefined ? FIRST_POSITION : positionAfter(position);
    return [position, `${path}[${index}]`, value];
  });
}

function attachNew(
  state: TreeState,
  nextId: () => string,
  parent: ParentNode,
  key: string,
  where: string,
  spec: Parameters<TreeState['attach']>[1],
): LiveNode {
  const { limits } = state;
  if (parent.depth + 1 > limits.maxTreeDepth) {
    throw invalid(`${where}: live structures may nest at most ${limits.maxTreeDepth} deep`);
  }
  if (state.nodes.size >= limits.maxNodes) {
    throw invalid(`the storage may hold at most ${limits.maxNodes} nodes`);
  }
  if (spec.type === CrdtType.REGISTER && jsonBytes(spec.data) > limits.maxDataBytes) {
    throw invalid(`${where}: a value may take at most ${limits.maxDataBytes} bytes`);
  }
  const id = nextId();
  if (typeof id !== 'string' || id.length === 0 || state.nodes.has(id)) {
    throw new WeftError('INTERNAL_ERROR', `nextId gave an empty or repeated id: ${String(id)}`);
  }
  return state.attach(id, spec, parent, key);
}

/** `value` as a live structure, `undefined` when it is plain JSON; throws when malformed. */
function asPlainLive(value: unknown, where: string): PlainLive | undefined {
  if (!isPlainObject(value) || !('liveblocksType' in value)) {
    return undefined;
  }
  const type = value.liveblocksType;
  if (typeof type === 'string' && UNSUPPORTED_LIVE_TYPES.has(type)) {
    throw invalid(`${where}: ${type} is not supported by this server`);
  }
  if (type === 'LiveList') {
    if (!Array.isArray(value.data)) {
      throw invalid(`${where}: a LiveList needs an array as data`);
    }
    return { liveblocksType: type, data: value.data };
  }
  if (type === 'LiveObject' || type === 'LiveMap') {
    if (!isPlainObject(value.data)) {
      throw invalid(`${where}: a ${type} needs an object as data`);
    }
    return { liveblocksType: type, data: value.data };
  }
  throw invalid(`${where}: liveblocksType must be LiveObject, LiveMap or LiveList`);
}

function checkJson(value: unknown, where: string, limits: StorageLimits): void {
  if (!isJson(value, limits.maxJsonDepth)) {
    throw invalid(`${where}: not JSON, or nested more than ${limits.maxJsonDepth} deep`);
  }
}

function checkObjectSize(node: ObjectNode, where: string, limits: StorageLimits): void {
  if (jsonBytes(Object.fromEntries(node.data)) > limits.maxDataBytes) {
    throw invalid(
      `${where}: a LiveObject's plain data may take at most ${limits.maxDataBytes} bytes`,
    );
  }
}

function nodeToPlainLson(node: LiveNode): unknown {
  switch (node.type) {
    case CrdtType.OBJECT:
      return {
        liveblocksType: 'LiveObject',
        data: Object.fromEntries([
          ...node.data,
          ...[...node.children].map(([key, child]) => [key, nodeToPlainLson(child)]),
        ]),
      };
    case CrdtType.MAP:
      return {
        liveblocksType: 'LiveMap',
        data: Object.fromEntries(
          [...node.children].map(([key, child]) => [key, nodeToPlainLson(child)]),
        ),
      };
    case CrdtType.LIST:
      return { liveblocksType: 'LiveList', data: node.items.map(nodeToPlainLson) };
    case CrdtType.REGISTER:
      return node.data;
  }
}

function nodeToJson(node: LiveNode): unknown {
  switch (node.type) {
    case CrdtType.OBJECT:
      return Object.fromEntries([
        ...node.data,
        ...[...node.children].map(([key, child]) => [key, nodeToJson(child)]),
      ]);
    case CrdtType.MAP:
      return Object.fromEntries([...node.children].map(([key, child]) => [key, nodeToJson(child)]));
    case CrdtType.LIST:
      return node.items.map(nodeToJson);
    case CrdtType.REGISTER:
      return node.data;
  }
}

function invalid(detail: string): WeftError {
  return new WeftError('UNPROCESSABLE_ENTITY', `Invalid plain LSON: ${detail}.`);
}
