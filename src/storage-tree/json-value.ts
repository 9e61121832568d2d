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
  // Two parallel stacks rather than one of pairs: this runs over every value of a whole tree
  // when a snapshot loads, and allocating a pair per value doubles its cost.
  const values: unknown[] = [value];
  const depths: number[] = [0];

  while (values.length > 0) {
    const current = values.pop();
    const depth = depths.pop() as number;
    if (current === null || typeof current === 'string' || typeof current === 'boolean') {
      continue;
    }
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) {
        return false;
      }
      continue;
    }
    if (depth >= maxDepth) {
      return false;
    }
    if (Array.isArray(current)) {
      for (const element of current) {
        values.push(element);
        depths.push(depth + 1);
      }
      continue;
    }
    if (!isPlainObject(current)) {
      return false;
    }
    for (const key of Object.keys(current)) {
      values.push(current[key]);
      depths.push(depth + 1);
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
