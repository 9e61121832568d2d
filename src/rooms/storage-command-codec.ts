/**
 * The payload of a Storage entry of the room log (kind 2 of `log-entry-codec.ts`): what to do
 * to the room's Storage tree, applied by every node in log order. UTF-8 JSON, one of:
 *
 * ```
 * { "ops": [...] }                          a client's UPDATE_STORAGE ops, as it sent them
 * { "initialize": [...], "request": id }    POST …/storage: ops that build the new tree,
 *                                           applied only when the tree is empty
 * { "delete": true, "request": id }         DELETE …/storage: every root key removed
 * { "jsonPatch": [...], "actor": n,         PATCH …/storage/json-patch: the operations as
 *   "request": id }                         sent, new nodes named after the actor
 * ```
 *
 * `request` names the REST call waiting for the outcome on the node that wrote the entry; it
 * routes the answer and never changes what the entry does.
 */

/** A Storage write, as the room log carries it. */
export type StorageCommand =
  | { readonly kind: 'ops'; readonly ops: readonly unknown[] }
  | { readonly kind: 'initialize'; readonly ops: readonly unknown[]; readonly request: string }
  | { readonly kind: 'delete'; readonly request: string }
  | {
      readonly kind: 'json-patch';
      readonly patch: unknown;
      readonly actor: number;
      readonly request: string;
    };

/** Thrown for a payload that is not a Storage command this version understands. */
export class StorageCommandFormatError extends Error {
  override readonly name = 'StorageCommandFormatError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Encodes a command as an entry payload. */
export function encodeStorageCommand(command: StorageCommand): Uint8Array {
  switch (command.kind) {
    case 'ops':
      return encoder.encode(JSON.stringify({ ops: command.ops }));
    case 'initialize':
      return encoder.encode(JSON.stringify({ initialize: command.ops, request: command.request }));
    case 'delete':
      return encoder.encode(JSON.stringify({ delete: true, request: command.request }));
    case 'json-patch':
      return encoder.encode(
        JSON.stringify({
          jsonPatch: command.patch,
          actor: command.actor,
          request: command.request,
        }),
      );
  }
}

/** Decodes an entry payload; throws {@link StorageCommandFormatError} for anything else. */
export function decodeStorageCommand(payload: Uint8Array): StorageCommand {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch (error) {
    throw new StorageCommandFormatError('storage entry payload is not UTF-8 JSON', {
      cause: error,
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StorageCommandFormatError('storage entry payload is not an object');
  }

  const fields = value as Record<string, unknown>;
  if (Array.isArray(fields.ops)) return { kind: 'ops', ops: fields.ops };
  if (typeof fields.request !== 'string') {
    throw new StorageCommandFormatError('storage entry payload names no known command');
  }
  if (Array.isArray(fields.initialize)) {
    return { kind: 'initialize', ops: fields.initialize, request: fields.request };
  }
  if (fields.delete === true) return { kind: 'delete', request: fields.request };
  if ('jsonPatch' in fields && Number.isSafeInteger(fields.actor)) {
    return {
      kind: 'json-patch',
      patch: fields.jsonPatch,
      actor: fields.actor as number,
      request: fields.request,
    };
  }
  throw new StorageCommandFormatError('storage entry payload names no known command');
}
