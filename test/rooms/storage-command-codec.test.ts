import { describe, expect, it } from 'vitest';

import {
  StorageCommandFormatError,
  decodeStorageCommand,
  encodeStorageCommand,
  type StorageCommand,
} from '../../src/rooms/storage-command-codec.js';

describe('storage command codec', () => {
  it('round-trips client ops, an initialization, a deletion and a JSON Patch', () => {
    const commands: StorageCommand[] = [
      { kind: 'ops', ops: [{ type: 3, id: 'root', data: { é: '✓' }, opId: '1:0' }] },
      { kind: 'initialize', ops: [{ type: 2, id: '4:0' }], request: 'r-1' },
      { kind: 'delete', request: 'r-2' },
      {
        kind: 'json-patch',
        patch: [{ op: 'add', path: '/a', value: 1 }],
        actor: 7,
        request: 'r-3',
      },
    ];

    for (const command of commands) {
      expect(decodeStorageCommand(encodeStorageCommand(command))).toEqual(command);
    }
  });

  it('refuses payloads that are no command', () => {
    const bytes = (text: string) => new TextEncoder().encode(text);

    for (const payload of [
      bytes('not json'),
      bytes('[1]'),
      bytes('{"initialize":[]}'),
      bytes('{"delete":false,"request":"r"}'),
      bytes('{"jsonPatch":[],"request":"r"}'),
      new Uint8Array([0xff, 0xfe]),
    ]) {
      expect(() => decodeStorageCommand(payload)).toThrow(StorageCommandFormatError);
    }
  });
});
