/**
 * Repairs the sender's copy of a LiveList after the tree ignored one of its `set` creates.
 *
 * A client applies a `set` create to its own list before the server answers: the item at the
 * position, and the item named by `deletedId`, leave its list and its node pool. When the tree
 * ignores the create (most often an op the client resends after reloading Storage, because it
 * lost the acknowledgement of the first copy), those items may still be in the server's list,
 * and no single remote op can put them back safely: a client inserts an item it already holds a
 * second time. What is always safe is to replace the whole list on that client: delete it, then
 * create it again with every item and descendant the server holds, under the same ids. The
 * deletion takes the client's nodes of the list out of its pool, so the creates cannot
 * duplicate anything.
 */
import {
  CrdtType,
  OpCode,
  ROOT_ID,
  type SerializedCrdt,
  type SerializedList,
  type SerializedMap,
  type SerializedObject,
  type SerializedRegister,
} from '../storage-tree/ops.js';
import type { StorageTree } from '../storage-tree/storage-tree.js';

/** Op codes of the create ops. */
const CREATE_OPS = new Set<number>([
  OpCode.CREATE_LIST,
  OpCode.CREATE_OBJECT,
  OpCode.CREATE_MAP,
  OpCode.CREATE_REGISTER,
]);

/**
 * Ops for the sender, to append after its replies (`toSender`), that rebuild every list in
 * which the tree ignored a `set` create of `ops`; none in the usual case.
 */
export function listResyncOps(
  tree: StorageTree,
  ops: readonly unknown[],
  toSender: readonly unknown[],
): unknown[] {
  const ignored = new Set<string>();
  for (const reply of toSender) {
    const { type, id, opId } = reply as { type?: unknown; id?: unknown; opId?: unknown };
    if (type === OpCode.DELETE_CRDT && id === 'ACK' && typeof opId === 'string') ignored.add(opId);
  }
  if (ignored.size === 0) return [];

  const lists = new Set<string>();
  for (const op of ops) {
    const { type, intent, opId, parentId } = op as Record<string, unknown>;
    if (
      CREATE_OPS.has(type as number) &&
      intent === 'set' &&
      typeof opId === 'string' &&
      ignored.has(opId) &&
      typeof parentId === 'string'
    ) {
      lists.add(parentId);
    }
  }
  if (lists.size === 0) return [];

  return rebuildOps(tree.serialize(), lists);
}

/**
 * The ops that replace each of `listIds` that is a list of the tree: its deletion, then its
 * creation and every descendant's, parents first. A list inside another one rebuilt goes with
 * it.
 */
function rebuildOps(
  items: ReadonlyArray<readonly [string, SerializedCrdt]>,
  listIds: ReadonlySet<string>,
): unknown[] {
  const deletions: unknown[] = [];
  const creates: unknown[] = [];
  // Items come parents first, so a node's parent is known to be rebuilt before the node is seen.
  const rebuilt = new Set<string>();
  for (const [id, node] of items) {
    if (id === ROOT_ID || !('parentId' in node)) continue;

    const isTarget = listIds.has(id) && node.type === CrdtType.LIST;
    const underTarget = rebuilt.has(node.parentId);
    if (!isTarget && !underTarget) continue;

    rebuilt.add(id);
    if (!underTarget) deletions.push({ type: OpCode.DELETE_CRDT, id });
    creates.push(createOpOf(id, node));
  }
  return [...deletions, ...creates];
}

/** The create op (without `opId`) that makes a serialized node on a client. */
export function createOpOf(
  id: string,
  node: SerializedObject | SerializedList | SerializedMap | SerializedRegister,
): Record<string, unknown> {
  const base = { id, parentId: node.parentId, parentKey: node.parentKey };
  switch (node.type) {
    case CrdtType.OBJECT:
      return { type: OpCode.CREATE_OBJECT, ...base, data: node.data };
    case CrdtType.LIST:
      return { type: OpCode.CREATE_LIST, ...base };
    case CrdtType.MAP:
      return { type: OpCode.CREATE_MAP, ...base };
    case CrdtType.REGISTER:
      return { type: OpCode.CREATE_REGISTER, ...base, data: node.data };
  }
}
