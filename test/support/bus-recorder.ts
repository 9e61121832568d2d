import type { EphemeralMessage, LogEntry, RoomBusHandler, RoomKey } from '../../src/cluster/bus.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { Store } from '../../src/store/store.js';

/** A bus handler that records what it is given, for assertions. */
export function busRecorder() {
  const entries: LogEntry[] = [];
  const ephemeral: { from: string; message: EphemeralMessage }[] = [];
  const down: (readonly string[])[] = [];
  const handler: RoomBusHandler = {
    onEntries: (batch) => entries.push(...batch),
    onEphemeral: (message, from) => ephemeral.push({ from, message }),
    onNodesDown: (nodeIds) => down.push(nodeIds),
  };
  return {
    entries,
    ephemeral,
    down,
    handler,
    texts: () => entries.map((entry) => Buffer.from(entry.data).toString()),
  };
}

/** Stores a writable room for a bus key, as the REST API would. */
export async function createBusRoom(store: Store, room: RoomKey): Promise<void> {
  await store.rooms.create({
    id: room.roomId,
    organizationId: room.organizationId,
    createdAt: new Date().toISOString(),
    lastConnectionAt: null,
    defaultAccesses: ['room:write'],
    usersAccesses: {},
    groupsAccesses: {},
    metadata: {},
  });
}

/** A logger that writes nothing. */
export function quietLogger(): Logger {
  return createLogger({ level: 'silent' });
}

/** UTF-8 bytes of a text, as log entries carry them. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** The integers from `from` to `to`, both included. */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
