import { describe, expect, it } from 'vitest';

import { startNode } from '../support/start-node.js';

describe('health routes', () => {
  it('answers /healthz and /readyz and publishes an ES256 key set', async () => {
    const node = await startNode();

    const health = await fetch(`${node.url}/healthz`);
    const ready = await fetch(`${node.url}/readyz`);
    const jwks = (await (await fetch(`${node.url}/.well-known/jwks.json`)).json()) as {
      keys: { kty: string; alg: string; d?: string }[];
    };

    expect(health.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', alg: 'ES256' });
    expect(jwks.keys[0]!.d).toBeUndefined();
  });

  it('serves Prometheus metrics labelled with the node', async () => {
    const node = await startNode();
    await fetch(`${node.url}/healthz`);

    const response = await fetch(`${node.url}/metrics`);
    const text = await response.text();

    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(text).toMatch(/weft_http_requests_total\{[^}]*route="\/healthz"[^}]*\} 1/);
  });

  it('answers unknown routes with the Liveblocks error shape', async () => {
    const node = await startNode();

    const response = await fetch(`${node.url}/nope`);

    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: 'NOT_FOUND' });
  });
});
