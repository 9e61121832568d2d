/**
 * The mutable core of a Storage tree: the nodes by id and the few primitive changes every op is
 * built from (attach a new node, delete a node with its subtree, move a list item).
 */
import { CrdtType, ROOT_ID, type Json } from './ops.js';
import type { StorageLimits } from './storage-limits.js';
import {
  insertItem,
  removeItem,
  type ListNode,
  type LiveNode,
  type ObjectNode,
  type ParentNode,
} from './tree-node.js';

/** What a new node is, before it has an id, a parent and a key. */
export type NodeSpec =
  | { readonly type: typeof CrdtType.OBJECT; readonly data: Iterable<[string, Json]> }
  | { readonly type: typeof CrdtType.LIST }
  | { readonly type: typeof CrdtType.MAP }
  | { readonly type: typeof CrdtType.REGISTER; readonly data: Json };

/** Nodes by id, rooted at the LiveObject `"root"`. */
export class TreeState {
  readonly root: ObjectNode;
  readonly nodes = new Map<string, LiveNode>();
  readonly limits: StorageLimits;
  /**
   * Per actor prefix of opIds (`actor:clock`), the highest clock of a create op processed,
   * most recently used last. A create at or below it is a resend of an op already processed.
   */
  readonly createClocks = new Map<string, number>();

  constructor(limits: StorageLimits, rootData: Iterable<[string, Json]> = []) {
    this.limits = limits;
    this.root = {
      type: CrdtType.OBJECT,
      id: ROOT_ID,
      parent: null,
      key: '',
      depth: 0,
      data: new Map(rootData),
      children: new Map(),
    };
    this.nodes.set(ROOT_ID, this.root);
  }

  /**
   * Creates a node under `parent` at `key` and returns it. The key must be free: callers
   * delete whatever held it first. For a list, `key` is the item's position.
   */
  attach(id: string, spec: NodeSpec, parent: ParentNode, key: string): LiveNode {
    const node = makeNode(id, spec, parent, key);
    this.nodes.set(id, node);
    if (parent.type === CrdtType.LIST) {
      insertItem(parent, node);
    } else {
      parent.children.set(key, node);
    }
    return node;
  }

  /** Removes `node` from its parent and forgets it and every node below it. Not the root. */
  deleteSubtree(node: LiveNode): void {
    const parent = node.parent;
    if (parent === null) {
      return;
    }
    if (parent.type === CrdtType.LIST) {
      removeItem(parent, node);
    } else if (parent.children.get(node.key) === node) {
      parent.children.delete(node.key);
    }

    const pending: LiveNode[] = [node];
    while (pending.length > 0) {
      const current = pending.pop() as LiveNode;
      this.nodes.delete(current.id);
      // Loops rather than spread: a list may hold more items than a call may take arguments.
      if (current.type === CrdtType.LIST) {
        for (const item of current.items) {
          pending.push(item);
        }
      } else if (current.type !== CrdtType.REGISTER) {
        for (const child of current.children.values()) {
          pending.push(child);
        }
      }
    }
  }

  /**
   * Records a processed create op of `actor` (the opId's prefix) at `clock`, forgetting the
   * least recently used actor past the limit.
   */
  recordCreateClock(actor: string, clock: number): void {
    const previous = this.createClocks.get(actor) ?? -1;
    this.createClocks.delete(actor);
    this.createClocks.set(actor, Math.max(previous, clock));
    if (this.createClocks.size > this.limits.maxTrackedActors) {
      const oldest = this.createClocks.keys().next().value as string;
      this.createClocks.delete(oldest);
    }
  }

  /** Moves a list item to a free `position` of its list. */
  moveItem(list: ListNode, item: LiveNode, position: string): void {
    removeItem(list, item);
    item.key = position;
    insertItem(list, item);
  }
}

function makeNode(id: string, spec: NodeSpec, parent: ParentNode, key: string): LiveNode {
  const depth = parent.depth + 1;
  switch (spec.type) {
    case CrdtType.OBJECT:
      return {
        type: CrdtType.OBJECT,
        id,
        parent,
        key,
        depth,
        data: new Map(spec.data),
        children: new Map(),
      };
    case CrdtType.LIST:
      return { type: CrdtType.LIST, id, parent, key, depth, items: [] };
    case CrdtType.MAP:
      return { type: CrdtType.MAP, id, parent, key, depth, children: new Map() };
    case CrdtType.REGISTER:
      return { type: CrdtType.REGISTER, id, parent, key, depth, data: spec.data };
  }
}
