/**
 * Checks on untrusted plain JSON values. Iterative, so that a deeply nested value is refused
 * instead of overflowing the stack.
 */
import type { Json, JsonObject } from './ops.js';

/** Whether `value` is a plain object (not an array, not null, no exotic prototype). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Whether `value` is JSON (null, booleans, finite numbers, strings, arrays and plain objects)
 * nested at most `maxDepth` levels.
 */
export function isJson(value: unknown, maxDepth: number): value is Json {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];

  while (pending.length > 0) {
    const next = pending.pop() as { value: unknown; depth: number };
    const current = next.value;
    if (current === null || typeof current === 'string' || typeof current === 'boolean') {
      continue;
    }
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) {
        return false;
      }
      continue;
    }
    if (next.depth >= maxDepth) {
      return false;
    }
    if (Array.isArray(current)) {
      for (const element of current) {
        pending.push({ value: element, depth: next.depth + 1 });
      }
      continue;
    }
    if (!isPlainObject(current)) {
      return false;
    }
    for (const key of Object.keys(current)) {
      pending.push({ value: current[key], depth: next.depth + 1 });
    }
  }

  return true;
}

/** Whether `value` is a plain object whose values are JSON nested at most `maxDepth` levels. */
export function isJsonObject(value: unknown, maxDepth: number): value is JsonObject {
  return isPlainObject(value) && isJson(value, maxDepth);
}

/** Size of `value` as UTF-8 JSON, in bytes. `value` must be JSON. */
export function jsonBytes(value: Json): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
