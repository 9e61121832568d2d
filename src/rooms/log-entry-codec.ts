/**
 * The binary form of a durable room-log entry, shared by every node of a cluster (so that a node
 * of one version reads the log another wrote). lib0 encoding:
 *
 * ```
 * uint8     kind          1 = Yjs update, 2 = Storage ops (reserved for the Storage tree)
 * varuint   origin        actor id of the writing connection; 0 = no connection (REST, server)
 * -- kind 1 (Yjs update)
 * uint8     flags         bit 0: the update uses the Yjs v2 encoding
 * varstring guid          sub-document guid; '' = the room's root document
 * varbytes  update
 * -- kind 2 (Storage ops)
 * varbytes  payload       defined by the Storage tree; opaque here
 * ```
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

/** Entry kinds on the wire. New kinds get new numbers; numbers are never reused. */
export const LogEntryKind = {
  YJS_UPDATE: 1,
  STORAGE_OPS: 2,
} as const;

/** The origin of an entry that no connection wrote (REST, the server itself). */
export const NO_ORIGIN = 0;

const FLAG_V2 = 1;

/** A Yjs update of the root document or of a sub-document. */
export interface YjsUpdateEntry {
  readonly kind: 'yjs-update';
  /** Actor of the connection that wrote it; {@link NO_ORIGIN} otherwise. */
  readonly origin: number;
  /** Sub-document guid; null for the root document. */
  readonly guid: string | null;
  /** True when `update` uses the Yjs v2 encoding. */
  readonly v2: boolean;
  readonly update: Uint8Array;
}

/** Storage ops; the payload format belongs to the Storage tree. */
export interface StorageOpsEntry {
  readonly kind: 'storage-ops';
  readonly origin: number;
  readonly payload: Uint8Array;
}

/** A decoded log entry. */
export type RoomLogEntry = YjsUpdateEntry | StorageOpsEntry;

/** Thrown for bytes that are not a log entry this version understands. */
export class LogEntryFormatError extends Error {
  override readonly name = 'LogEntryFormatError';
}

/** Encodes an entry for `Bus.append`. */
export function encodeLogEntry(entry: RoomLogEntry): Uint8Array {
  const encoder = encoding.createEncoder();
  if (entry.kind === 'yjs-update') {
    encoding.writeUint8(encoder, LogEntryKind.YJS_UPDATE);
    encoding.writeVarUint(encoder, entry.origin);
    encoding.writeUint8(encoder, entry.v2 ? FLAG_V2 : 0);
    encoding.writeVarString(encoder, entry.guid ?? '');
    encoding.writeVarUint8Array(encoder, entry.update);
  } else {
    encoding.writeUint8(encoder, LogEntryKind.STORAGE_OPS);
    encoding.writeVarUint(encoder, entry.origin);
    encoding.writeVarUint8Array(encoder, entry.payload);
  }
  return encoding.toUint8Array(encoder);
}

/** Decodes an entry; throws {@link LogEntryFormatError} for anything else. */
export function decodeLogEntry(data: Uint8Array): RoomLogEntry {
  try {
    const decoder = decoding.createDecoder(data);
    const kind = decoding.readUint8(decoder);
    const origin = decoding.readVarUint(decoder);

    switch (kind) {
      case LogEntryKind.YJS_UPDATE: {
        const flags = decoding.readUint8(decoder);
        const guid = decoding.readVarString(decoder);
        const update = decoding.readVarUint8Array(decoder);
        return {
          kind: 'yjs-update',
          origin,
          v2: (flags & FLAG_V2) !== 0,
          guid: guid === '' ? null : guid,
          update,
        };
      }
      case LogEntryKind.STORAGE_OPS:
        return { kind: 'storage-ops', origin, payload: decoding.readVarUint8Array(decoder) };
      default:
        throw new LogEntryFormatError(`unknown log entry kind ${kind}`);
    }
  } catch (error) {
    if (error instanceof LogEntryFormatError) throw error;
    throw new LogEntryFormatError('truncated or malformed log entry', { cause: error });
  }
}
