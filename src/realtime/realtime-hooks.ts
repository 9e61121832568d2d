import { WeftError } from '../errors.js';
import type { RealtimeHooks } from '../http/app-context.js';
import type { RoomRegistry } from '../rooms/room-registry.js';
import type { RoomRepository } from '../store/room-repository.js';

/**
 * What REST changes to a room mean for its live connections on this node: deletion closes them
 * (ROOM_DELETED) and drops the room, a new id closes them with 4006 so that clients rejoin under
 * it, and changed accesses make every ID-token connection re-check its permissions.
 */
export function createRealtimeHooks(deps: {
  registry: RoomRegistry;
  rooms: RoomRepository;
}): RealtimeHooks {
  return {
    roomDeleted: (roomId) =>
      deps.registry.drop(roomId, new WeftError('ROOM_DELETED'), { forget: true }),

    // The store moved the log and snapshot to the new id; nothing is forgotten.
    roomRenamed: (oldId) =>
      deps.registry.drop(oldId, new WeftError('ROOM_ID_UPDATED'), { forget: false }),

    roomUpdated: async (roomId) => {
      const room = deps.registry.get(roomId);
      if (!room) return;
      const record = await deps.rooms.get(roomId);
      if (record) room.reauthorize(record);
    },
  };
}
