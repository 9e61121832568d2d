/**
 * Applies one validated op to a tree and says what the sender and the other connections must
 * receive so that every client ends in the server's state.
 *
 * How `@liveblocks/client` 3.24.2 treats what it receives decides every reply here:
 * - An op carrying the sender's `opId` is an acknowledgement. It clears the client's pending
 *   state for that op (per LiveObject key, per LiveMap key, per list position); for a list item
 *   it also moves the item to the acknowledged position.
 * - An op without `opId` is applied as a remote change, except on LiveObject keys the client
 *   still has pending ops for, which it leaves alone until their acknowledgement.
 * - `{ type: 5, id: "ACK", opId }` only drops the op from the client's pending list. It does not
 *   clear per-key state, so ops that set keys are acknowledged with their `opId` even when they
 *   changed nothing on the server; the ignore-acknowledgement is kept for creates and moves,
 *   which an echo would replay.
 * Positions are settled here: a list never holds two items at one position, and a position a
 * client asked for that is taken or malformed is replaced by a free one, which the sender
 * learns from a `SET_PARENT_KEY` fix and from its acknowledgement.
 * Two client behaviours that would otherwise leave a client diverged are worked around below
 * (`fieldSets` and the repeated LiveMap create); test/storage-tree/client-convergence.test.ts
 * drives real clients through them.
 */
import { jsonBytes } from './json-value.js';
import {
  CrdtType,
  IGNORED_OP_ID,
  OpCode,
  ROOT_ID,
  type CreateOp,
  type CreateRegisterOp,
  type DeleteCrdtOp,
  type DeleteObjectKeyOp,
  type Json,
  type Op,
  type SetParentKeyOp,
  type UpdateObjectOp,
} from './ops.js';
import { positionAfter, positionBetween, toPosition } from './position.js';
import { findItemIndex, itemAfter, type ListNode, type ParentNode } from './tree-node.js';
import type { NodeSpec, TreeState } from './tree-state.js';

/** Where the replies of applied ops collect, in order. */
export interface ReplySink {
  readonly toSender: unknown[];
  readonly toOthers: unknown[];
}

/**
 * Applies `op` (sent with `opId`) and appends the replies to `sink`. Returns `null` when the op
 * was applied or ignored, or the reason it is refused (a limit), in which case nothing changed.
 */
export function applyOp(
  state: TreeState,
  op: Op,
  opId: string,
  actor: number,
  sink: ReplySink,
): string | null {
  switch (op.type) {
    case OpCode.UPDATE_OBJECT:
      return applyUpdateObject(state, op, opId, sink);
    case OpCode.DELETE_OBJECT_KEY:
      applyDeleteObjectKey(state, op, opId, sink);
      return null;
    case OpCode.DELETE_CRDT:
      applyDeleteCrdt(state, op, opId, sink);
      return null;
    case OpCode.SET_PARENT_KEY:
      applySetParentKey(state, op, opId, sink);
      return null;
    default: {
      const parent = state.nodes.get(op.parentId);
      if (isResentCreate(state, opId, actor) && parent?.type === CrdtType.LIST) {
        applyResentListCreate(state, op, opId, sink);
        return null;
      }
      return applyCreate(state, op, opId, sink);
    }
  }
}

/** opIds a client makes: `<actor>:<clock>`. */
const OP_ID_PATTERN = /^(\d{1,15}):(\d{1,15})$/;

/**
 * Whether a create was processed before, and records it otherwise. A client resends every op
 * it has no acknowledgement for when it (re)loads storage, including ops it sent on the same
 * connection just before the storage arrived. A client's opIds for one actor prefix grow, and
 * it sends them in order. Prefixes above the sender's own actor are not recorded: no client
 * can send them legitimately, and recording them would let a writer mark a later connection's
 * creates as resends.
 */
function isResentCreate(state: TreeState, opId: string, actor: number): boolean {
  const match = OP_ID_PATTERN.exec(opId);
  if (match === null || Number(match[1]) > actor) {
    return false;
  }
  const prefix = match[1] as string;
  const clock = Number(match[2]);
  if (clock <= (state.createClocks.get(prefix) ?? -1)) {
    return true;
  }
  state.recordCreateClock(prefix, clock);
  return false;
}

/**
 * Answers a resent list create without applying it: applied again, it would bring back an
 * item deleted since (and a resent set, ignored because its item exists, would not delete
 * again what it replaced). Resent creates elsewhere are applied again: under an object or map
 * key that is a late write of the key, which every client follows.
 *
 * Should the item be gone on the server, the sender may hold it anyway: a client that lost the
 * first acknowledgement re-applies its pending ops on the storage it reloads. It is told to
 * delete it. What such a re-applied set replaced on that client is not given back: clients
 * insert a list item received twice twice, so no reply can restore it safely.
 */
function applyResentListCreate(
  state: TreeState,
  op: CreateOp,
  opId: string,
  sink: ReplySink,
): void {
  sink.toSender.push(ignored(opId));
  if (!state.nodes.has(op.id)) {
    sink.toSender.push({ type: OpCode.DELETE_CRDT, id: op.id });
  }
}

function applyUpdateObject(
  state: TreeState,
  op: UpdateObjectOp,
  opId: string,
  sink: ReplySink,
): string | null {
  const node = state.nodes.get(op.id);
  const keys = Object.keys(op.data);
  if (keys.length === 0) {
    sink.toSender.push({ ...op, opId });
    return null;
  }
  // An object that is gone (or never was one) changes nothing, but the acknowledgement still
  // clears the sender's pending keys should it hold the node.
  if (node?.type !== CrdtType.OBJECT) {
    sink.toSender.push(...fieldSets(op, opId));
    return null;
  }

  const merged = new Map(node.data);
  for (const key of keys) {
    merged.set(key, op.data[key] as Json);
  }
  const bytes = jsonBytes(Object.fromEntries(merged));
  if (bytes > state.limits.maxDataBytes) {
    return `LiveObject data would be ${bytes} bytes, above the limit of ${state.limits.maxDataBytes}`;
  }

  for (const key of keys) {
    const child = node.children.get(key);
    if (child !== undefined) {
      state.deleteSubtree(child);
    }
    node.data.set(key, op.data[key] as Json);
  }
  sink.toSender.push(...fieldSets(op, opId));
  sink.toOthers.push(...fieldSets(op));
  return null;
}

/**
 * An UPDATE_OBJECT as one CREATE_REGISTER per field, with the same effect on clients.
 *
 * Why: a client that receives UPDATE_OBJECT (as a remote op or as its acknowledgement) drops
 * the live child it holds under a named key from its node pool even when it then leaves the
 * key alone because its own create of that child is still unacknowledged. The child stays on
 * display, but later edits of it are neither sent nor received there, and the client never
 * converges again. The same field sent as CREATE_REGISTER under the object sets the plain value
 * exactly as UPDATE_OBJECT does, acknowledges by `opId` exactly as it does, and leaves a key
 * with a pending op untouched. The register id is never attached (plain fields are not nodes)
 * and cannot name a real node, whose ids are `actor:clock`.
 */
export function fieldSets(op: UpdateObjectOp, opId?: string): CreateRegisterOp[] {
  return Object.keys(op.data).map((key) => ({
    type: OpCode.CREATE_REGISTER,
    id: `${op.id}|${key}`,
    parentId: op.id,
    parentKey: key,
    data: op.data[key] as Json,
    ...(opId === undefined ? {} : { opId }),
  }));
}

function applyDeleteObjectKey(
  state: TreeState,
  op: DeleteObjectKeyOp,
  opId: string,
  sink: ReplySink,
): void {
  sink.toSender.push({ ...op, opId });

  const node = state.nodes.get(op.id);
  if (node?.type !== CrdtType.OBJECT) {
    return;
  }
  const child = node.children.get(op.key);
  if (child !== undefined) {
    state.deleteSubtree(child);
  } else if (!node.data.delete(op.key)) {
    return;
  }
  sink.toOthers.push(op);
}

function applyDeleteCrdt(state: TreeState, op: DeleteCrdtOp, opId: string, sink: ReplySink): void {
  if (op.id === ROOT_ID) {
    sink.toSender.push(ignored(opId));
    return;
  }

  // Deleting what is already gone is echoed: should the sender still hold the node, the
  // acknowledgement removes it there too, which is the server's state.
  sink.toSender.push({ ...op, opId });
  const node = state.nodes.get(op.id);
  if (node === undefined) {
    return;
  }
  state.deleteSubtree(node);
  sink.toOthers.push(op);
}

function applySetParentKey(
  state: TreeState,
  op: SetParentKeyOp,
  opId: string,
  sink: ReplySink,
): void {
  const node = state.nodes.get(op.id);
  const list = node?.parent;
  if (node === undefined || list?.type !== CrdtType.LIST) {
    sink.toSender.push(ignored(opId));
    return;
  }

  const requested = toPosition(op.parentKey);
  const moved = requested !== node.key;
  if (moved) {
    state.moveItem(list, node, freePosition(list, requested, node.id));
  }

  const settled: SetParentKeyOp = { type: OpCode.SET_PARENT_KEY, id: op.id, parentKey: node.key };
  if (node.key !== op.parentKey) {
    sink.toSender.push(settled);
  }
  sink.toSender.push({ ...settled, opId });
  if (moved) {
    sink.toOthers.push(settled);
  }
}

function applyCreate(state: TreeState, op: CreateOp, opId: string, sink: ReplySink): string | null {
  const parent = state.nodes.get(op.parentId);
  // A create whose node exists already is most often an op resent after a reconnection that
  // the server had applied: acknowledging it without effect is right, and it also keeps one
  // writer from replacing another's node by reusing its id.
  if (
    state.nodes.has(op.id) ||
    parent === undefined ||
    parent.type === CrdtType.REGISTER ||
    (parent.type === CrdtType.OBJECT && op.type === OpCode.CREATE_REGISTER)
  ) {
    sink.toSender.push(ignored(opId));
    return null;
  }

  const refusal = checkCreateLimits(state, op, parent);
  if (refusal !== null) {
    return refusal;
  }

  if (parent.type === CrdtType.LIST) {
    applyListCreate(state, op, opId, parent, sink);
    return null;
  }

  if (parent.type === CrdtType.OBJECT) {
    parent.data.delete(op.parentKey);
  }
  const previous = parent.children.get(op.parentKey);
  if (previous !== undefined) {
    state.deleteSubtree(previous);
  }
  state.attach(op.id, specOf(op), parent, op.parentKey);

  sink.toSender.push({ ...op, opId });
  if (parent.type === CrdtType.MAP) {
    // A client remembers the last key it set in a LiveMap until a remote op replaces it, and
    // ignores the acknowledgement of any other create under that key whose node it no longer
    // holds. After set, undo, redo (create, delete, create of one id) the delete's
    // acknowledgement removes the re-created node and the redo's acknowledgement is ignored.
    // The same create without opId right after the acknowledgement restores the node in that
    // case and is a no-op for a client that holds it.
    sink.toSender.push({ ...op });
  }
  sink.toOthers.push(op);
  return null;
}

function applyListCreate(
  state: TreeState,
  op: CreateOp,
  opId: string,
  list: ListNode,
  sink: ReplySink,
): void {
  const requested = toPosition(op.parentKey);
  const deletions: unknown[] = [];
  let position = requested;

  if (op.intent === 'set') {
    const replaced = op.deletedId === undefined ? undefined : state.nodes.get(op.deletedId);
    if (replaced !== undefined && replaced.parent === list) {
      state.deleteSubtree(replaced);
    }
    // A set replaces whatever holds the position now, as clients do when they receive it.
    // The occupant's deletion goes to everyone: a client that moved the occupant elsewhere
    // (still unacknowledged) would otherwise keep it.
    const occupant = list.items[findItemIndex(list, requested)];
    if (occupant !== undefined) {
      state.deleteSubtree(occupant);
      deletions.push({ type: OpCode.DELETE_CRDT, id: occupant.id });
    }
  } else if (op.intent === 'push') {
    const last = list.items[list.items.length - 1];
    if (last !== undefined && requested <= last.key) {
      position = positionAfter(last.key);
    }
  } else {
    position = freePosition(list, requested, op.id);
  }

  state.attach(op.id, specOf(op), list, position);

  const settled = { ...op, parentKey: position };
  sink.toSender.push(...deletions);
  if (position !== op.parentKey) {
    sink.toSender.push({ type: OpCode.SET_PARENT_KEY, id: op.id, parentKey: position });
  }
  sink.toSender.push({ ...settled, opId });
  sink.toOthers.push(...deletions, settled);
}

/** `requested` if no other item than `movingId` holds it, else the next free position after. */
function freePosition(list: ListNode, requested: string, movingId: string): string {
  const occupant = list.items[findItemIndex(list, requested)];
  if (occupant === undefined || occupant.id === movingId) {
    return requested;
  }
  let next = itemAfter(list, requested);
  if (next?.id === movingId) {
    next = itemAfter(list, next.key);
  }
  return next === undefined ? positionAfter(requested) : positionBetween(requested, next.key);
}

function checkCreateLimits(state: TreeState, op: CreateOp, parent: ParentNode): string | null {
  const { limits } = state;
  if (state.nodes.size >= limits.maxNodes) {
    return `Storage holds ${limits.maxNodes} nodes, the most allowed`;
  }
  if (parent.depth + 1 > limits.maxTreeDepth) {
    return `Live structures may nest at most ${limits.maxTreeDepth} deep`;
  }
  if (op.type === OpCode.CREATE_OBJECT || op.type === OpCode.CREATE_REGISTER) {
    const bytes = jsonBytes(op.data);
    if (bytes > limits.maxDataBytes) {
      return `Node data is ${bytes} bytes, above the limit of ${limits.maxDataBytes}`;
    }
  }
  return null;
}

function specOf(op: CreateOp): NodeSpec {
  switch (op.type) {
    case OpCode.CREATE_OBJECT:
      return { type: CrdtType.OBJECT, data: Object.entries(op.data) };
    case OpCode.CREATE_LIST:
      return { type: CrdtType.LIST };
    case OpCode.CREATE_MAP:
      return { type: CrdtType.MAP };
    case OpCode.CREATE_REGISTER:
      return { type: CrdtType.REGISTER, data: op.data };
  }
}

function ignored(opId: string): { type: typeof OpCode.DELETE_CRDT; id: string; opId: string } {
  return { type: OpCode.DELETE_CRDT, id: IGNORED_OP_ID, opId };
}
