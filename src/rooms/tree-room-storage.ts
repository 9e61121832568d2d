/**
 * A room's Storage over the authoritative {@link StorageTree}: every Storage entry of the room
 * log is applied to the tree in log order, on every node holding the room, and turned into what
 * the connections must receive. Snapshots hold the tree's v7 items and the create clocks it
 * keeps to recognise resent ops, so that a node loading a snapshot answers later ops exactly as
 * a node that applied every entry.
 */
import type { Logger } from '../log.js';
import { OpCode, ROOT_ID, type SerializedCrdt } from '../storage-tree/ops.js';
import { parseOps } from '../storage-tree/op-parser.js';
import { DEFAULT_STORAGE_LIMITS } from '../storage-tree/storage-limits.js';
import { StorageTree, rejectAll } from '../storage-tree/storage-tree.js';
import { createOpOf, listResyncOps } from './list-resync.js';
import type { StorageOpsEntry } from './log-entry-codec.js';
import { decodeStorageCommand, type StorageCommand } from './storage-command-codec.js';
import { jsonPatchOps } from './storage-json-patch.js';
import type {
  CompactStorageNode,
  RoomStorage,
  StorageItem,
  StorageRejection,
  StorageUpdate,
} from './room-storage.js';

/**
 * Format byte of a Storage snapshot, followed by the UTF-8 JSON of {@link SnapshotBody}. An
 * empty snapshot is an empty tree that never saw an op.
 */
const SNAPSHOT_FORMAT = 1;

/** What a Storage snapshot holds after its format byte. */
interface SnapshotBody {
  readonly items: Array<[string, SerializedCrdt]>;
  readonly createClocks: Array<[string, number]>;
}

/** Prefix of the opIds of ops a REST write applies; no connection ever sees them. */
const REST_OP_ID_PREFIX = 'rest:';

const NOTHING: StorageUpdate = Object.freeze({ toSender: [], toOthers: [], rejected: null });

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The ops of a `POST …/storage` (see {@link initializeOps}) and the plain LSON they build. */
export interface InitializeOps {
  readonly ops: unknown[];
  /** The plain LSON of the tree the ops build, as the REST call answers it. */
  readonly plainLson: unknown;
}

/** The Storage of every room. */
export class TreeRoomStorage implements RoomStorage {
  readonly #tree: StorageTree;
  readonly #log: Logger;
  /** Op kinds refused as unsupported and logged already: once per room is enough. */
  readonly #unsupportedLogged = new Set<string>();

  constructor(tree: StorageTree, logger: Logger) {
    this.#tree = tree;
    this.#log = logger;
  }

  /**
   * The Storage of a snapshot's bytes (empty bytes: an empty tree). Throws on bytes this
   * version cannot read: a room must not load without its Storage.
   */
  static fromSnapshot(bytes: Uint8Array, logger: Logger): TreeRoomStorage {
    if (bytes.length === 0) return new TreeRoomStorage(StorageTree.empty(), logger);
    if (bytes[0] !== SNAPSHOT_FORMAT) {
      throw new Error(`unknown storage snapshot format ${bytes[0]}`);
    }
    const body = JSON.parse(decoder.decode(bytes.subarray(1))) as Partial<SnapshotBody>;
    const tree = StorageTree.fromSerialized(
      body.items ?? [],
      DEFAULT_STORAGE_LIMITS,
      body.createClocks ?? [],
    );
    return new TreeRoomStorage(tree, logger);
  }

  /** How many nodes the tree holds, root included. */
  get nodeCount(): number {
    return this.#tree.nodeCount;
  }

  compactNodes(): Iterable<CompactStorageNode> {
    return this.#tree.compactNodes();
  }

  items(): StorageItem[] {
    return this.#tree.serialize();
  }

  isEmpty(): boolean {
    return this.#tree.isEmpty();
  }

  toPlainLson(): unknown {
    return this.#tree.toPlainLson();
  }

  toJson(): unknown {
    return this.#tree.toJson();
  }

  encode(): Uint8Array {
    const createClocks = this.#tree.createClocks();
    if (this.#tree.isEmpty() && createClocks.length === 0) return new Uint8Array(0);

    const body: SnapshotBody = { items: this.#tree.serialize(), createClocks };
    const json = encoder.encode(JSON.stringify(body));
    const bytes = new Uint8Array(json.length + 1);
    bytes[0] = SNAPSHOT_FORMAT;
    bytes.set(json, 1);
    return bytes;
  }

  applyEntry(entry: StorageOpsEntry): StorageUpdate {
    let command: StorageCommand;
    try {
      command = decodeStorageCommand(entry.payload);
    } catch (error) {
      this.#log.error({ err: error, origin: entry.origin }, 'unreadable storage entry skipped');
      return NOTHING;
    }

    switch (command.kind) {
      case 'ops':
        return this.#applyClientOps(command.ops, entry.origin);
      case 'initialize':
        // Decided here, in log order, so that every node agrees even when a client's first
        // write raced the REST call.
        if (!this.#tree.isEmpty()) {
          return { ...NOTHING, request: { id: command.request, outcome: 'not-empty' } };
        }
        return this.#applyRestOps(command.ops, entry.origin, command.request);
      case 'delete':
        return this.#applyRestOps(this.#rootKeyDeletions(), entry.origin, command.request);
      case 'json-patch': {
        const patch = jsonPatchOps(this.#tree, command.patch, command.actor);
        if (!patch.ok) {
          const outcome = 'patch-failed';
          return { ...NOTHING, request: { id: command.request, outcome, reason: patch.reason } };
        }
        return this.#applyRestOps(patch.ops, entry.origin, command.request);
      }
    }
  }

  #applyClientOps(ops: readonly unknown[], origin: number): StorageUpdate {
    const result = this.#tree.apply(ops, { actor: origin });

    for (const name of result.unsupported) {
      if (this.#unsupportedLogged.has(name)) continue;
      this.#unsupportedLogged.add(name);
      this.#log.warn({ op: name, actor: origin }, 'unsupported storage op refused');
    }
    if (result.invalid !== null) {
      this.#log.info({ reason: result.invalid, actor: origin }, 'malformed storage ops refused');
    }
    const toSender = [...result.toSender, ...listResyncOps(this.#tree, ops, result.toSender)];
    return { toSender, toOthers: result.toOthers, rejected: result.rejected };
  }

  #applyRestOps(ops: readonly unknown[], origin: number, request: string): StorageUpdate {
    const result = this.#tree.apply(ops, { actor: origin });
    if (result.rejected !== null) {
      // The REST route checks the same limits first, so this is a bug, not a client fault.
      this.#log.error({ reason: result.rejected.reason }, 'storage write of the REST API refused');
    }
    return {
      toSender: [],
      toOthers: result.toOthers,
      rejected: null,
      request: { id: request, outcome: 'applied' },
    };
  }

  /** One DELETE_OBJECT_KEY of the root per key, plain field or live child. */
  #rootKeyDeletions(): unknown[] {
    const root = this.#tree.toJson() as Record<string, unknown>;
    return Object.keys(root).map((key, index) => ({
      type: OpCode.DELETE_OBJECT_KEY,
      id: ROOT_ID,
      key,
      opId: `${REST_OP_ID_PREFIX}${index}`,
    }));
  }
}

/**
 * The ops that build the tree of a plain LSON document (`POST …/storage`) on an empty root:
 * the root's plain fields, then one create per live node or register, parents first. Node ids
 * are `actor:n`, with an actor of the room's own counter, so they never collide with a
 * client's. Throws a `WeftError` (`UNPROCESSABLE_ENTITY`) on invalid plain LSON.
 */
export function initializeOps(plainLson: unknown, actor: number): InitializeOps {
  let clock = 0;
  const tree = StorageTree.fromPlainLson(plainLson, () => `${actor}:${clock++}`);

  const ops: unknown[] = [];
  for (const [id, node] of tree.serialize()) {
    const opId = `${REST_OP_ID_PREFIX}${ops.length}`;
    if (!('parentId' in node)) {
      if (id === ROOT_ID && Object.keys(node.data).length > 0) {
        ops.push({ type: OpCode.UPDATE_OBJECT, id, data: node.data, opId });
      }
      continue;
    }
    ops.push({ ...createOpOf(id, node), opId });
  }
  return { ops, plainLson: tree.toPlainLson() };
}

/**
 * Why the `ops` of a client's UPDATE_STORAGE are malformed, or null when they may enter the
 * log. Checked before the log, as a schema check of the message: an entry the tree would
 * refuse whole has no business in it.
 */
export function checkStorageOps(ops: unknown): string | null {
  const parsed = parseOps(ops, DEFAULT_STORAGE_LIMITS);
  return parsed.ok ? null : parsed.reason;
}

/** The rejection of every op of a message with `reason`; null when it names no opId. */
export function refuseStorageOps(ops: unknown, reason: string): StorageRejection | null {
  const { rejected } = rejectAll(ops, reason);
  return rejected && rejected.opIds.length > 0 ? rejected : null;
}
