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
  /** Per document key, values derived from the document, valid until it changes. */
  private readonly derived = new Map<string, Map<string, unknown>>();

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
    this.derived.delete(key);
  }

  /**
   * A value derived from the document (an encoding, a frame), built once and kept until the
   * document changes: every connection asking for it in between gets the same value.
   */
  cached<T>(guid: string | null, name: string, build: () => T): T {
    const key = guid ?? ROOT;
    let values = this.derived.get(key);
    if (values?.has(name)) return values.get(name) as T;

    const value = build();
    if (!values) {
      values = new Map();
      this.derived.set(key, values);
    }
    values.set(name, value);
    return value;
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

  /**
   * What a peer holding `vector` lacks (the whole document without a vector). The whole
   * document, what every joining client asks for, is encoded once per change.
   */
  diff(guid: string | null, vector: Uint8Array | undefined, v2: boolean): Uint8Array {
    const encode = (doc: Y.Doc, from?: Uint8Array) =>
      v2 ? Y.encodeStateAsUpdateV2(doc, from) : Y.encodeStateAsUpdate(doc, from);
    if (vector === undefined || isEmptyStateVector(vector)) {
      return this.cached(guid, v2 ? 'state:2' : 'state:1', () => encode(this.docOrEmpty(guid)));
    }
    return encode(this.docOrEmpty(guid), vector);
  }

  /**
   * The hash `@liveblocks/yjs` compares with its own to report "synchronized": base64 SHA-256 of
   * the encoded `Y.snapshot` of the document, in the encoding the client uses.
   */
  snapshotHash(guid: string | null, v2: boolean): string {
    return this.cached(guid, v2 ? 'hash:2' : 'hash:1', () => {
      const snapshot = Y.snapshot(this.docOrEmpty(guid));
      const encoded = v2 ? Y.encodeSnapshotV2(snapshot) : Y.encodeSnapshot(snapshot);
      return createHash('sha256').update(encoded).digest('base64');
    });
  }

  /** Frees the documents. */
  destroy(): void {
    for (const doc of this.docs.values()) doc.destroy();
    this.docs.clear();
    this.derived.clear();
  }

  private docOrEmpty(guid: string | null): Y.Doc {
    return this.docs.get(guid ?? ROOT) ?? new Y.Doc();
  }
}

/** True for the state vector of an empty document: no client, as a varuint 0. */
export function isEmptyStateVector(vector: Uint8Array): boolean {
  return vector.length === 1 && vector[0] === 0;
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
