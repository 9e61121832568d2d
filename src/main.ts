import { loadOrCreateDevSecretKey } from './auth/secret-key.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { startServer } from './server.js';

/** Seconds a draining node waits for its sockets and flushes before it exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The composition root: the only module that reads the environment, listens to signals and
 * exits.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger().fatal({ err: error }, 'invalid configuration');
    process.exit(78);
  }

  const logger = createLogger({
    level: config.logLevel,
    base: { node: config.nodeId },
  });
  let secretKey = config.secretKey;
  if (secretKey === undefined) {
    const dev = loadOrCreateDevSecretKey(config.dataDir);
    secretKey = dev.key;
    logger.warn(
      { file: dev.file },
      'SECRET_KEY is unset: using a development secret key stored in this file; set SECRET_KEY in production',
    );
  }

  const server = await startServer({ config, logger, secretKey, processMetrics: true });

  const stop = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  createLogger().fatal({ err: error }, 'failed to start');
  process.exit(1);
});
