/**
 * The binary form of a room snapshot (`Bus.snapshot`): the state of every Yjs document of the
 * room and of its Storage tree, covering the log up to the snapshot's seq. lib0 encoding:
 *
 * ```
 * uint8     format        1
 * varuint   documents     count, then per document:
 *   varstring guid        '' = the root document
 *   varbytes  state       Y.encodeStateAsUpdateV2 of the document
 * varbytes  storage       the Storage tree's own snapshot; empty = no Storage yet
 * ```
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

const FORMAT = 1;

/** The decoded content of a snapshot. */
export interface RoomSnapshot {
  /** Each document's whole state as a v2 update, by guid ('' = root). */
  readonly documents: ReadonlyMap<string, Uint8Array>;
  /** The Storage tree's snapshot; empty when the room has no Storage. */
  readonly storage: Uint8Array;
}

/** Encodes a snapshot. */
export function encodeRoomSnapshot(snapshot: RoomSnapshot): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeUint8(encoder, FORMAT);
  encoding.writeVarUint(encoder, snapshot.documents.size);
  for (const [guid, state] of snapshot.documents) {
    encoding.writeVarString(encoder, guid);
    encoding.writeVarUint8Array(encoder, state);
  }
  encoding.writeVarUint8Array(encoder, snapshot.storage);
  return encoding.toUint8Array(encoder);
}

/** Decodes a snapshot; throws on bytes of another format. */
export function decodeRoomSnapshot(data: Uint8Array): RoomSnapshot {
  const decoder = decoding.createDecoder(data);
  const format = decoding.readUint8(decoder);
  if (format !== FORMAT) throw new Error(`unknown room snapshot format ${format}`);

  const documents = new Map<string, Uint8Array>();
  const count = decoding.readVarUint(decoder);
  for (let i = 0; i < count; i += 1) {
    const guid = decoding.readVarString(decoder);
    documents.set(guid, decoding.readVarUint8Array(decoder));
  }
  return { documents, storage: decoding.readVarUint8Array(decoder) };
}
