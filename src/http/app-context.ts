import type { TokenService } from '../auth/token-service.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/store.js';

/**
 * What HTTP routes may use. Realtime parts (the room registry, the bus) join it as they land,
 * as optional members, so that REST-only tests can build an app without them.
 */
export interface AppContext {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: Store;
  readonly tokens: TokenService;
  /** The REST secret key in force (from SECRET_KEY or the development file). */
  readonly secretKey: string;
  /** True while the node drains before shutdown; /readyz answers 503 then. */
  isDraining(): boolean;
}
