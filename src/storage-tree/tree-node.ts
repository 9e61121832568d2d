/**
 * The in-memory nodes of a Storage tree. A node never changes parent: the protocol can only
 * create a node under a parent, delete it, or move a list item within its own list.
 */
import { CrdtType, type Json } from './ops.js';

/** A LiveObject: plain fields and live children, each key held by one or the other. */
export interface ObjectNode {
  readonly type: typeof CrdtType.OBJECT;
  readonly id: string;
  readonly parent: ParentNode | null;
  /** Key in the parent (object or map key, or list position). Empty for the root. */
  key: string;
  /** Distance from the root; the root is 0. */
  readonly depth: number;
  /** Plain fields, in the order they were first set. */
  readonly data: Map<string, Json>;
  /** Live children by key, in the order they were attached. */
  readonly children: Map<string, LiveNode>;
}

/** A LiveMap: live children (registers for plain values) by key. */
export interface MapNode {
  readonly type: typeof CrdtType.MAP;
  readonly id: string;
  readonly parent: ParentNode;
  key: string;
  readonly depth: number;
  readonly children: Map<string, LiveNode>;
}

/** A LiveList: items sorted by their position (`key`), each position held by one item. */
export interface ListNode {
  readonly type: typeof CrdtType.LIST;
  readonly id: string;
  readonly parent: ParentNode;
  key: string;
  readonly depth: number;
  readonly items: LiveNode[];
}

/** A plain JSON value inside a LiveMap or a LiveList. */
export interface RegisterNode {
  readonly type: typeof CrdtType.REGISTER;
  readonly id: string;
  readonly parent: ParentNode;
  key: string;
  readonly depth: number;
  readonly data: Json;
}

/** A node that can hold children. */
export type ParentNode = ObjectNode | MapNode | ListNode;

/** Any node. */
export type LiveNode = ObjectNode | MapNode | ListNode | RegisterNode;

/** Index of the item at `position` in a sorted list, or -1. */
export function findItemIndex(list: ListNode, position: string): number {
  const index = lowerBound(list.items, position);
  return list.items[index]?.key === position ? index : -1;
}

/** Index where an item at `position` belongs in a sorted list. */
export function insertionIndex(list: ListNode, position: string): number {
  return lowerBound(list.items, position);
}

/** The first item strictly after `position`, if any. */
export function itemAfter(list: ListNode, position: string): LiveNode | undefined {
  const index = lowerBound(list.items, position);
  const item = list.items[index];
  if (item?.key === position) {
    return list.items[index + 1];
  }
  return item;
}

/** Inserts `item` at its position (which must be free) in a sorted list. */
export function insertItem(list: ListNode, item: LiveNode): void {
  list.items.splice(lowerBound(list.items, item.key), 0, item);
}

/** Removes `item` from a sorted list; does nothing when it is not there. */
export function removeItem(list: ListNode, item: LiveNode): void {
  const index = findItemIndex(list, item.key);
  if (index !== -1 && list.items[index] === item) {
    list.items.splice(index, 1);
  }
}

/** First index whose item's position is not below `position` (binary search). */
function lowerBound(items: readonly LiveNode[], position: string): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((items[middle] as LiveNode).key < position) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  return low;
}
