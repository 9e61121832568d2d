import { describe, expect, it } from 'vitest';

import {
  LogEntryFormatError,
  decodeLogEntry,
  encodeLogEntry,
} from '../../src/rooms/log-entry-codec.js';
import { decodeRoomSnapshot, encodeRoomSnapshot } from '../../src/rooms/room-snapshot-codec.js';

describe('log entry codec', () => {
  it('round-trips a Yjs update of the root document and of a sub-document', () => {
    const update = new Uint8Array([1, 2, 3, 250]);

    const root = decodeLogEntry(
      encodeLogEntry({ kind: 'yjs-update', origin: 7, guid: null, v2: false, update }),
    );
    const sub = decodeLogEntry(
      encodeLogEntry({ kind: 'yjs-update', origin: 0, guid: 'chapter-é', v2: true, update }),
    );

    expect(root).toEqual({ kind: 'yjs-update', origin: 7, guid: null, v2: false, update });
    expect(sub).toEqual({ kind: 'yjs-update', origin: 0, guid: 'chapter-é', v2: true, update });
  });

  it('round-trips a Storage entry with its opaque payload', () => {
    const payload = new TextEncoder().encode('{"ops":[]}');

    expect(decodeLogEntry(encodeLogEntry({ kind: 'storage-ops', origin: 3, payload }))).toEqual({
      kind: 'storage-ops',
      origin: 3,
      payload,
    });
  });

  it('starts with the entry kind byte so that other readers can tell kinds apart', () => {
    const yjs = encodeLogEntry({
      kind: 'yjs-update',
      origin: 1,
      guid: null,
      v2: false,
      update: new Uint8Array(),
    });
    const storage = encodeLogEntry({ kind: 'storage-ops', origin: 1, payload: new Uint8Array() });

    expect([yjs[0], storage[0]]).toEqual([1, 2]);
  });

  it('refuses unknown kinds and truncated entries with a format error', () => {
    const whole = encodeLogEntry({
      kind: 'yjs-update',
      origin: 1,
      guid: 'g',
      v2: false,
      update: new Uint8Array([9, 9, 9]),
    });

    expect(() => decodeLogEntry(new Uint8Array([99, 0]))).toThrow(LogEntryFormatError);
    expect(() => decodeLogEntry(whole.slice(0, whole.length - 2))).toThrow(LogEntryFormatError);
    expect(() => decodeLogEntry(new Uint8Array())).toThrow(LogEntryFormatError);
  });
});

describe('room snapshot codec', () => {
  it('round-trips every document and the Storage bytes', () => {
    const documents = new Map([
      ['', new Uint8Array([0, 0])],
      ['sub', new Uint8Array([1, 2, 3])],
    ]);
    const storage = new Uint8Array([4, 5]);

    expect(decodeRoomSnapshot(encodeRoomSnapshot({ documents, storage }))).toEqual({
      documents,
      storage,
    });
  });

  it('refuses bytes of another format', () => {
    expect(() => decodeRoomSnapshot(new Uint8Array([2, 0, 0]))).toThrow(/format/);
  });
});
