/** Frames built from a room event, by event and by name. */
const frames = new WeakMap<object, Map<string, string | Uint8Array>>();

/**
 * A frame built from a room event, shared by every connection the event is fanned out to. The
 * room hands the same event object to each of its connections, so the first one to need a
 * frame builds it and the others send the same string or bytes, instead of each encoding it
 * again. `name` tells apart the frames of different protocols and encodings; the frames live
 * as long as the event.
 */
export function sharedFrame<T extends string | Uint8Array>(
  event: object,
  name: string,
  build: () => T,
): T {
  let built = frames.get(event);
  const frame = built?.get(name);
  if (frame !== undefined) return frame as T;

  const value = build();
  if (!built) {
    built = new Map();
    frames.set(event, built);
  }
  built.set(name, value);
  return value;
}
