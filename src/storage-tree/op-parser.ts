/**
 * Validation of the untrusted `ops` of one `UPDATE_STORAGE` message. A message is checked as a
 * whole before anything of it is applied: one op of the wrong shape refuses the whole message,
 * as a schema check of the message would (the Liveblocks dev server closes such a socket with
 * 4000 and applies nothing). Ops of the right shape that Weft does not implement are singled
 * out so that only they are refused.
 */
import { isJson, isJsonObject, isPlainObject } from './json-value.js';
import { OpCode, UNSUPPORTED_OP_NAMES, type CreateIntent, type Op } from './ops.js';
import type { StorageLimits } from './storage-limits.js';

/** One op of a valid message. */
export type ParsedOp =
  | { readonly kind: 'apply'; readonly opId: string; readonly op: Op }
  | { readonly kind: 'unsupported'; readonly opId: string; readonly name: string };

/** The outcome of parsing one message's ops. */
export type ParseResult =
  | { readonly ok: true; readonly ops: ParsedOp[] }
  | { readonly ok: false; readonly reason: string; readonly opIds: string[] };

/** Thrown inside the parser only; turned into a failed {@link ParseResult}. */
class OpShapeError extends Error {}

/**
 * Parses the `ops` of one message. Never throws.
 */
export function parseOps(raw: unknown, limits: StorageLimits): ParseResult {
  if (!Array.isArray(raw)) {
    return { ok: false, reason: 'ops must be an array', opIds: [] };
  }

  const ops: ParsedOp[] = [];
  for (let index = 0; index < raw.length; index++) {
    try {
      ops.push(parseOp(raw[index], limits));
    } catch (error) {
      if (!(error instanceof OpShapeError)) {
        throw error;
      }
      return { ok: false, reason: `op ${index}: ${error.message}`, opIds: opIdsOf(raw, limits) };
    }
  }
  return { ok: true, ops };
}

/** The well-formed opIds among `raw`, so that a refused message can name them. */
export function opIdsOf(raw: unknown, limits: StorageLimits): string[] {
  if (!Array.isArray(raw)) {
    return [];
  }
  const opIds: string[] = [];
  for (const op of raw) {
    if (isPlainObject(op) && isId(op.opId, limits)) {
      opIds.push(op.opId);
    }
  }
  return opIds;
}

function parseOp(raw: unknown, limits: StorageLimits): ParsedOp {
  if (!isPlainObject(raw)) {
    throw new OpShapeError('must be an object');
  }
  const opId = raw.opId;
  if (!isId(opId, limits)) {
    throw new OpShapeError(`opId must be a string of 1 to ${limits.maxIdLength} characters`);
  }
  const type = raw.type;
  if (typeof type !== 'number') {
    throw new OpShapeError('type must be an op code');
  }
  const unsupported = UNSUPPORTED_OP_NAMES[type];
  if (unsupported !== undefined) {
    return { kind: 'unsupported', opId, name: unsupported };
  }

  const id = requireId(raw.id, 'id', limits);
  switch (type) {
    case OpCode.UPDATE_OBJECT:
      return { kind: 'apply', opId, op: { type, id, data: requireData(raw.data, limits) } };
    case OpCode.DELETE_CRDT:
      return { kind: 'apply', opId, op: { type, id } };
    case OpCode.DELETE_OBJECT_KEY:
      return { kind: 'apply', opId, op: { type, id, key: requireKey(raw.key, 'key', limits) } };
    case OpCode.SET_PARENT_KEY:
      return {
        kind: 'apply',
        opId,
        op: { type, id, parentKey: requireKey(raw.parentKey, 'parentKey', limits) },
      };
    case OpCode.CREATE_OBJECT:
    case OpCode.CREATE_LIST:
    case OpCode.CREATE_MAP:
    case OpCode.CREATE_REGISTER:
      return { kind: 'apply', opId, op: parseCreate(raw, type, id, limits) };
    default:
      throw new OpShapeError(`unknown op type ${String(type)}`);
  }
}

function parseCreate(
  raw: Record<string, unknown>,
  type: 2 | 4 | 7 | 8,
  id: string,
  limits: StorageLimits,
): Op {
  const parentId = requireId(raw.parentId, 'parentId', limits);
  const parentKey = requireKey(raw.parentKey, 'parentKey', limits);
  const extra: { intent?: CreateIntent; deletedId?: string } = {};
  if (raw.intent !== undefined) {
    if (raw.intent !== 'set' && raw.intent !== 'push') {
      throw new OpShapeError('intent must be "set" or "push"');
    }
    extra.intent = raw.intent;
  }
  if (raw.deletedId !== undefined) {
    extra.deletedId = requireId(raw.deletedId, 'deletedId', limits);
  }

  switch (type) {
    case OpCode.CREATE_OBJECT:
      return { type, id, parentId, parentKey, data: requireData(raw.data, limits), ...extra };
    case OpCode.CREATE_REGISTER:
      if (!isJson(raw.data, limits.maxJsonDepth)) {
        throw new OpShapeError(`data must be JSON nested at most ${limits.maxJsonDepth} deep`);
      }
      return { type, id, parentId, parentKey, data: raw.data, ...extra };
    default:
      return { type, id, parentId, parentKey, ...extra };
  }
}

function isId(value: unknown, limits: StorageLimits): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= limits.maxIdLength;
}

function requireId(value: unknown, field: string, limits: StorageLimits): string {
  if (!isId(value, limits)) {
    throw new OpShapeError(`${field} must be a string of 1 to ${limits.maxIdLength} characters`);
  }
  return value;
}

function requireKey(value: unknown, field: string, limits: StorageLimits): string {
  if (typeof value !== 'string' || value.length > limits.maxKeyLength) {
    throw new OpShapeError(
      `${field} must be a string of at most ${limits.maxKeyLength} characters`,
    );
  }
  return value;
}

function requireData(value: unknown, limits: StorageLimits) {
  if (!isJsonObject(value, limits.maxJsonDepth)) {
    throw new OpShapeError(`data must be a JSON object nested at most ${limits.maxJsonDepth} deep`);
  }
  for (const key of Object.keys(value)) {
    if (key.length > limits.maxKeyLength) {
      throw new OpShapeError(`data keys must have at most ${limits.maxKeyLength} characters`);
    }
  }
  return value;
}
