import { createHash } from 'node:crypto';

import * as Y from 'yjs';

/** The key of the root document; sub-documents are keyed by their guid. */
const ROOT = '';

/** Origin of transactions that replay the log, so that observers can tell them apart. */
const LOG_ORIGIN = 'log';

/**
 * The Yjs documents of one room: the root document and sub-documents by guid, as
 * `@liveblocks/yjs` addresses them. Only log entries change them, so every node applying the
 * same log holds the same documents.
 */
export class YjsDocuments {
  private readonly docs = new Map<string, Y.Doc>();
  /** Snapshot hashes by `guid` + encoding, valid until the document changes. */
  private readonly hashes = new Map<string, string>();

  /** Applies an update from the log. Throws when Yjs cannot read it. */
  apply(guid: string | null, update: Uint8Array, v2: boolean): void {
    const key = guid ?? ROOT;
    let doc = this.docs.get(key);
    if (!doc) {
      doc = new Y.Doc();
      this.docs.set(key, doc);
    }

    if (v2) Y.applyUpdateV2(doc, update, LOG_ORIGIN);
    else Y.applyUpdate(doc, update, LOG_ORIGIN);
    this.hashes.delete(`${key}:1`);
    this.hashes.delete(`${key}:2`);
  }

  /** Loads the documents of a snapshot (whole states as v2 updates). */
  load(documents: ReadonlyMap<string, Uint8Array>): void {
    for (const [guid, state] of documents) this.apply(guid === ROOT ? null : guid, state, true);
  }

  /** Every document's whole state as a v2 update, for a room snapshot. */
  encodeAll(): Map<string, Uint8Array> {
    const states = new Map<string, Uint8Array>();
    for (const [guid, doc] of this.docs) states.set(guid, Y.encodeStateAsUpdateV2(doc));
    return states;
  }

  /** The document, if any update reached it. */
  get(guid: string | null): Y.Doc | undefined {
    return this.docs.get(guid ?? ROOT);
  }

  /** The document's state vector (an empty document's when none reached it). */
  stateVector(guid: string | null): Uint8Array {
    return Y.encodeStateVector(this.docOrEmpty(guid));
  }

  /** What a peer holding `vector` lacks (the whole document without a vector). */
  diff(guid: string | null, vector: Uint8Array | undefined, v2: boolean): Uint8Array {
    const doc = this.docOrEmpty(guid);
    return v2 ? Y.encodeStateAsUpdateV2(doc, vector) : Y.encodeStateAsUpdate(doc, vector);
  }

  /**
   * The hash `@liveblocks/yjs` compares with its own to report "synchronized": base64 SHA-256 of
   * the encoded `Y.snapshot` of the document, in the encoding the client uses.
   */
  snapshotHash(guid: string | null, v2: boolean): string {
    const key = `${guid ?? ROOT}:${v2 ? 2 : 1}`;
    const cached = this.hashes.get(key);
    if (cached !== undefined) return cached;

    const snapshot = Y.snapshot(this.docOrEmpty(guid));
    const encoded = v2 ? Y.encodeSnapshotV2(snapshot) : Y.encodeSnapshot(snapshot);
    const hash = createHash('sha256').update(encoded).digest('base64');
    if (this.docs.has(guid ?? ROOT)) this.hashes.set(key, hash);
    return hash;
  }

  /** Frees the documents. */
  destroy(): void {
    for (const doc of this.docs.values()) doc.destroy();
    this.docs.clear();
    this.hashes.clear();
  }

  private docOrEmpty(guid: string | null): Y.Doc {
    return this.docs.get(guid ?? ROOT) ?? new Y.Doc();
  }
}

/**
 * True when Yjs can parse the update. Checked before an update enters the log, where a
 * malformed one would fail every node that loads the room.
 */
export function isReadableYjsUpdate(update: Uint8Array, v2: boolean): boolean {
  try {
    if (v2) Y.decodeUpdateV2(update);
    else Y.decodeUpdate(update);
    return true;
  } catch {
    return false;
  }
}

/** Converts an update between the v1 and v2 encodings. */
export function convertYjsUpdate(update: Uint8Array, fromV2: boolean, toV2: boolean): Uint8Array {
  if (fromV2 === toV2) return update;
  return fromV2 ? Y.convertUpdateFormatV2ToV1(update) : Y.convertUpdateFormatV1ToV2(update);
}
