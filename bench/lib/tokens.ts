/** Longest wait for one token request, in milliseconds. */
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * Mints an access token through the REST API of the server under test
 * (`POST /v2/authorize-user` with the secret key), allowing `room:write` on rooms matching
 * `pattern`. An access token may create a missing room on join, so no room needs creating first.
 */
export async function mintAccessToken(
  baseUrl: string,
  secret: string,
  userId: string,
  pattern: string,
): Promise<string> {
  const response = await fetch(new URL('/v2/authorize-user', baseUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId, permissions: { [pattern]: ['room:write'] } }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`POST ${baseUrl}/v2/authorize-user answered ${response.status}: ${text}`);
  }

  const body = JSON.parse(text) as { token?: unknown };
  if (typeof body.token !== 'string') {
    throw new Error(`POST ${baseUrl}/v2/authorize-user answered without a token: ${text}`);
  }
  return body.token;
}

/**
 * Hands out tokens for many clients while minting only a few: clients `i` and `i + distinct`
 * share a user. Minting one token per socket would make a 5,000-socket run mostly a REST
 * benchmark.
 */
export class TokenPool {
  private readonly cache = new Map<string, Promise<string>>();

  constructor(
    private readonly mint: (nodeIndex: number, userId: string) => Promise<string>,
    private readonly distinctUsers: number,
  ) {}

  /** The token of client `clientIndex`, connecting to node `nodeIndex`. */
  get(nodeIndex: number, clientIndex: number): Promise<string> {
    const userId = `bench-user-${clientIndex % this.distinctUsers}`;
    const key = `${nodeIndex}/${userId}`;
    let token = this.cache.get(key);
    if (!token) {
      token = this.mint(nodeIndex, userId);
      this.cache.set(key, token);
    }
    return token;
  }
}
