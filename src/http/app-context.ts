import type { TokenService } from '../auth/token-service.js';
import type { Bus } from '../cluster/bus.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { RoomRegistry } from '../rooms/room-registry.js';
import type { Store } from '../store/store.js';

/**
 * What REST routes tell the realtime side when a room changes under live connections. The
 * gateway implements it; REST-only tests leave it out.
 */
export interface RealtimeHooks {
  /**
   * The room was deleted: close its sockets (ROOM_DELETED) on every node, drop it from memory
   * and forget its log.
   */
  roomDeleted(roomId: string, organizationId: string): Promise<void>;
  /**
   * The room has a new id: close its sockets (ROOM_ID_UPDATED, 4006) on every node, drop it and
   * move its log to the new id.
   */
  roomRenamed(oldId: string, newId: string): Promise<void>;
  /** The room's accesses changed: connections re-check their permissions. */
  roomUpdated(roomId: string): Promise<void>;
}

/**
 * What HTTP routes may use. Realtime parts (the room registry, the bus) join it as they land,
 * as optional members, so that REST-only tests can build an app without them.
 */
export interface AppContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly tokens: TokenService;
  readonly metrics: Metrics;
  /** The REST secret key in force (from SECRET_KEY or the development file). */
  readonly secretKey: string;
  /** True while the node drains before shutdown; /readyz answers 503 then. */
  isDraining(): boolean;
  /** The node's bus, once started: /readyz asks it whether Redis answers (a cluster). */
  readonly bus?: Pick<Bus, 'ready'>;
  /** Set once the realtime gateway is attached. */
  realtime?: RealtimeHooks;
  /** The rooms loaded on this node, for the live-room REST routes (ydoc, presence). */
  liveRooms?: RoomRegistry;
}
