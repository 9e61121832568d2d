import { describe, expect, it } from 'vitest';

import { ConfigError, DEFAULT_LIMITS, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('has working defaults for a single node', () => {
    const config = loadConfig({});

    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.databaseUrl).toBe('sqlite:data/weft.db');
    expect(config.redisUrl).toBeUndefined();
    expect(config.secretKey).toBeUndefined();
    expect(config.limits).toEqual(DEFAULT_LIMITS);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads limits from their variables', () => {
    const config = loadConfig({ MAX_MESSAGE_BYTES: '2048', PING_INTERVAL_MS: '5_000' });

    expect(config.limits.maxMessageBytes).toBe(2048);
    expect(config.limits.pingIntervalMs).toBe(5000);
  });

  it.each([
    [{ PORT: '70000' }, /PORT/],
    [{ PORT: 'http' }, /PORT/],
    [{ MAX_CONNECTIONS_PER_ROOM: '0' }, /MAX_CONNECTIONS_PER_ROOM/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ REDIS_URL: 'localhost:6379', SECRET_KEY: 'sk_test_12345678' }, /REDIS_URL/],
    [{ SECRET_KEY: 'pk_public' }, /SECRET_KEY/],
  ])('fails fast naming the bad variable (%o)', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it.each([
    [{ NODE_ENV: 'production' }, /production/],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, /REDIS_URL/],
    [{ DATABASE_URL: 'postgres://localhost/weft' }, /Postgres/],
  ])('requires SECRET_KEY when nodes must share it (%o)', (env, reason) => {
    expect(() => loadConfig(env)).toThrow(/SECRET_KEY is required/);
    expect(() => loadConfig(env)).toThrow(reason);
    expect(loadConfig({ ...env, SECRET_KEY: 'sk_live_0123456789' }).secretKey).toBe(
      'sk_live_0123456789',
    );
  });
});
