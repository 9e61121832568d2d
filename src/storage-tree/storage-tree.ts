/**
 * The authoritative Storage of one room (LiveObject, LiveMap, LiveList and their registers),
 * applying clients' ops in the room's one total order. Pure: no I/O, clocks, randomness or
 * node state, so every node applying the same ordered ops computes the same tree and the same
 * replies.
 */
import { WeftError } from '../errors.js';
import { applyOp, type ReplySink } from './apply-op.js';
import { parseOps, opIdsOf } from './op-parser.js';
import type { CompactNode, Op, SerializedCrdt } from './ops.js';
import { treeFromPlainLson, treeToJson, treeToPlainLson } from './plain-lson.js';
import { DEFAULT_STORAGE_LIMITS, type StorageLimits } from './storage-limits.js';
import { compactTree, deserializeTree, serializeTree } from './tree-codec.js';
import { diffTrees } from './tree-diff.js';
import { TreeState } from './tree-state.js';

/** Who sent the ops being applied. */
export interface ApplyContext {
  /**
   * The sender's connection id (actor). It bounds the opIds the tree remembers to recognise
   * resent creates; node ids are not checked against it, since a client creates nodes with
   * other actors' ids when it undoes their deletion.
   */
  readonly actor: number;
}

/** What to send after applying one client message's ops. */
export interface ApplyResult {
  /** Accepted ops without `opId`, for every other connection (`UPDATE_STORAGE`, 201). */
  toOthers: unknown[];
  /**
   * For the sender, as one `UPDATE_STORAGE` (201) whose order matters: per op, in op order, its
   * acknowledgement (the op with `opId`, possibly corrected, or `{ type: 5, id: "ACK", opId }`
   * when it was seen but not applied) together with fix ops without `opId` placed before or
   * after it.
   */
  toSender: unknown[];
  /**
   * Ops refused, for one `REJECT_STORAGE_OP` (299) `{ opIds, reason }` to the sender, in a
   * frame of its own after the 201: outside production builds the client throws while handling
   * it, which would skip what follows in the same frame.
   */
  rejected: { opIds: string[]; reason: string } | null;
  /** Names of op kinds refused as not implemented (e.g. `"CREATE_TEXT"`), once each. */
  unsupported: string[];
  /**
   * Why the whole message was refused as malformed (nothing of it applied), or `null`. The
   * caller may close the socket with `INVALID_MESSAGE`, as the reference server does.
   */
  invalid: string | null;
}

/** A Storage tree. */
export class StorageTree {
  readonly #state: TreeState;

  private constructor(state: TreeState) {
    this.#state = state;
  }

  /** A tree holding only the root LiveObject, with no keys. */
  static empty(limits: StorageLimits = DEFAULT_STORAGE_LIMITS): StorageTree {
    return new StorageTree(new TreeState(limits));
  }

  /**
   * Rebuilds a tree from its v7 serialized items (as {@link serialize} gives them, in any
   * order) and the {@link createClocks} saved with them. Throws a `WeftError` on malformed
   * input.
   */
  static fromSerialized(
    items: ReadonlyArray<readonly [string, SerializedCrdt]>,
    limits: StorageLimits = DEFAULT_STORAGE_LIMITS,
    createClocks: ReadonlyArray<readonly [string, number]> = [],
  ): StorageTree {
    const state = deserializeTree(items, limits);
    restoreCreateClocks(state, createClocks);
    return new StorageTree(state);
  }

  /**
   * Builds a tree from plain LSON (`{ liveblocksType: "LiveObject", data: {…} }` at the top,
   * LiveMap, LiveList and plain JSON inside). New node ids come from `nextId` (for example
   * `${actor}:${n}`); list items get positions in their order. Throws a `WeftError`
   * (`UNPROCESSABLE_ENTITY`) on invalid LSON.
   */
  static fromPlainLson(
    value: unknown,
    nextId: () => string,
    limits: StorageLimits = DEFAULT_STORAGE_LIMITS,
  ): StorageTree {
    return new StorageTree(treeFromPlainLson(value, nextId, limits));
  }

  /** How many nodes the tree holds, root included. */
  get nodeCount(): number {
    return this.#state.nodes.size;
  }

  /** Whether the root has no keys. */
  isEmpty(): boolean {
    return this.#state.root.data.size === 0 && this.#state.root.children.size === 0;
  }

  /**
   * Applies the ops of one client message (JSON-parsed, untrusted) in order. Never throws.
   * A message with an op of the wrong shape is refused whole; ops Weft does not implement and
   * ops over a limit are refused one by one; the rest are applied or acknowledged as ignored.
   */
  apply(ops: unknown, context: ApplyContext): ApplyResult {
    const result: ApplyResult = {
      toOthers: [],
      toSender: [],
      rejected: null,
      unsupported: [],
      invalid: null,
    };

    let parsed: ReturnType<typeof parseOps>;
    try {
      parsed = parseOps(ops, this.#state.limits);
    } catch {
      // Only input that did not come from JSON.parse (getters, proxies) can get here.
      parsed = { ok: false, reason: 'ops are not plain JSON', opIds: [] };
    }
    if (!parsed.ok) {
      result.invalid = parsed.reason;
      result.rejected = { opIds: parsed.opIds, reason: `Invalid storage ops: ${parsed.reason}` };
      return result;
    }

    const rejectedOpIds: string[] = [];
    const reasons: string[] = [];
    for (const entry of parsed.ops) {
      let refusal: string | null;
      if (entry.kind === 'unsupported') {
        refusal = `${entry.name} is not supported by this server`;
        if (!result.unsupported.includes(entry.name)) {
          result.unsupported.push(entry.name);
        }
      } else {
        refusal = this.#applyOne(entry.op, entry.opId, context.actor, result);
      }
      if (refusal !== null) {
        rejectedOpIds.push(entry.opId);
        if (!reasons.includes(refusal)) {
          reasons.push(refusal);
        }
      }
    }

    if (rejectedOpIds.length > 0) {
      result.rejected = { opIds: rejectedOpIds, reason: reasons.join('; ') };
    }
    return result;
  }

  /**
   * What the tree remembers of processed create ops, per opId actor prefix, to recognise a
   * create a client resends. Not part of what clients see: store it with every snapshot of
   * {@link serialize} and pass it back to {@link fromSerialized}, so that a node loading the
   * snapshot answers later ops exactly as a node that applied them all.
   */
  createClocks(): Array<[string, number]> {
    return [...this.#state.createClocks];
  }

  /** The tree as v7 `STORAGE_STATE_V7` items: root first, parents before children. */
  serialize(): Array<[string, SerializedCrdt]> {
    return serializeTree(this.#state);
  }

  /**
   * The tree as v8 `STORAGE_CHUNK` nodes: root first, parents before children. A snapshot:
   * ops applied afterwards do not show in it.
   */
  compactNodes(): Iterable<CompactNode> {
    return compactTree(this.#state);
  }

  /**
   * Ops without `opId` that turn a client holding this tree into `target`: how a write that
   * replaces the storage outside the op log (a REST `POST …/storage`) reaches every connected
   * client, sent to all of them as one `UPDATE_STORAGE` once `target` is the room's tree.
   */
  diffOps(target: StorageTree): unknown[] {
    return diffTrees(this.#state, target.#state);
  }

  /** The plain LSON of the tree (`GET …/storage?format=plain-lson`). */
  toPlainLson(): unknown {
    return treeToPlainLson(this.#state);
  }

  /** The plain JSON of the tree (`GET …/storage?format=json`), as a client's `root.toJSON()`. */
  toJson(): unknown {
    return treeToJson(this.#state);
  }

  #applyOne(op: Op, opId: string, actor: number, sink: ReplySink): string | null {
    // Every op is checked before it changes anything, so this only guards against a bug here;
    // a refusal keeps the room serving instead of failing every later message too.
    try {
      return applyOp(this.#state, op, opId, actor, sink);
    } catch {
      return 'The server could not apply this op';
    }
  }
}

function restoreCreateClocks(
  state: TreeState,
  createClocks: ReadonlyArray<readonly [string, number]>,
): void {
  if (!Array.isArray(createClocks)) {
    throw new WeftError('INTERNAL_ERROR', 'Stored storage is malformed: createClocks.');
  }
  for (const entry of createClocks) {
    const [actor, clock] = Array.isArray(entry) ? entry : [];
    if (typeof actor !== 'string' || !Number.isSafeInteger(clock)) {
      throw new WeftError('INTERNAL_ERROR', 'Stored storage is malformed: createClocks.');
    }
    state.recordCreateClock(actor, clock as number);
  }
}

/**
 * The result for a message none of whose ops may be applied, for example from a read-only
 * connection: every well-formed `opId` is rejected with `reason`, nothing is applied or fanned
 * out. The client drops the rejected ops from its pending list.
 */
export function rejectAll(ops: unknown, reason: string): ApplyResult {
  return {
    toOthers: [],
    toSender: [],
    rejected: { opIds: opIdsOf(ops, DEFAULT_STORAGE_LIMITS), reason },
    unsupported: [],
    invalid: null,
  };
}
