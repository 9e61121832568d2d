import type { Bus, RoomChange } from '../cluster/bus.js';
import { WeftError } from '../errors.js';
import type { RealtimeHooks } from '../http/app-context.js';
import type { Logger } from '../log.js';
import type { RoomRegistry } from '../rooms/room-registry.js';
import type { RoomRepository } from '../store/room-repository.js';

/**
 * What REST changes to a room mean for its live connections: deletion closes them
 * (ROOM_DELETED) and drops the room, a new id closes them with 4006 so that clients rejoin under
 * it, and changed accesses make every ID-token connection re-check its permissions. The node
 * that served the REST call tells the other nodes through the bus, which do the same to the
 * connections they hold; it alone changes the log (forgets it, or moves it to the new id).
 */
export function createRealtimeHooks(deps: {
  registry: RoomRegistry;
  rooms: RoomRepository;
  bus: Bus;
  logger: Logger;
}): RealtimeHooks {
  const { registry, rooms, bus } = deps;
  const log = deps.logger.child({ component: 'realtime-hooks' });

  const reauthorize = async (roomId: string) => {
    const room = registry.get(roomId);
    if (!room) return;
    const record = await rooms.get(roomId);
    if (record) room.reauthorize(record);
  };

  const applyRemote = async (change: RoomChange) => {
    switch (change.type) {
      case 'deleted':
        return registry.drop(change.roomId, new WeftError('ROOM_DELETED'), { forget: false });
      case 'renamed':
        return registry.drop(change.roomId, new WeftError('ROOM_ID_UPDATED'), { forget: false });
      case 'updated':
        return reauthorize(change.roomId);
    }
  };
  bus.onRoomChange((change, fromNode) => {
    applyRemote(change).catch((error: unknown) => {
      log.error({ err: error, room: change.roomId, fromNode }, 'room change from a node failed');
    });
  });

  return {
    async roomDeleted(roomId, organizationId) {
      bus.publishRoomChange({ type: 'deleted', roomId });
      await registry.drop(roomId, new WeftError('ROOM_DELETED'), { forget: false });
      // Forgotten here even when this node never held the room: another held its log.
      await bus.forget({ organizationId, roomId });
    },

    async roomRenamed(oldId, newId) {
      bus.publishRoomChange({ type: 'renamed', roomId: oldId, newRoomId: newId });
      await registry.drop(oldId, new WeftError('ROOM_ID_UPDATED'), { forget: false });
      // The store moved the snapshot and rows; the entries after the snapshot follow.
      const record = await rooms.get(newId);
      if (!record) return;
      const { organizationId } = record;
      await bus.moveRoom({ organizationId, roomId: oldId }, { organizationId, roomId: newId });
    },

    async roomUpdated(roomId) {
      bus.publishRoomChange({ type: 'updated', roomId });
      await reauthorize(roomId);
    },
  };
}
