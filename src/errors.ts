/**
 * The one error catalogue. Every failure a client can see has a code here, with the HTTP status
 * a REST route answers, the WebSocket close code a socket is closed with, and a message that
 * says what to do next. The README's error table is kept in step by test/errors.test.ts.
 *
 * Close codes follow `@liveblocks/client`: 4000–4099 stop without retrying, 4100–4199
 * re-authenticate then retry, 1013 and 4200–4299 retry without re-authenticating.
 */

/** One entry of the catalogue. */
export interface ErrorSpec {
  /** HTTP status of a REST response carrying this error. */
  readonly status: number;
  /** WebSocket close code of a socket closed for this error. */
  readonly closeCode: number;
  /** Default message; a thrower may pass a more precise one. */
  readonly message: string;
}

/** Every error code Weft uses. */
export const ERRORS = {
  MISSING_SECRET_KEY: {
    status: 401,
    closeCode: 4001,
    message: 'Send the project secret key as "Authorization: Bearer sk_…".',
  },
  WRONG_KEY_USED: {
    status: 401,
    closeCode: 4001,
    message: 'This endpoint needs the secret key (sk_…), not a token or a public key.',
  },
  INVALID_SECRET_KEY: {
    status: 403,
    closeCode: 4001,
    message: 'The secret key is not this project’s key. Check SECRET_KEY.',
  },
  INVALID_TOKEN: {
    status: 403,
    closeCode: 4001,
    message: 'The token is malformed, unsigned or not signed by this server. Mint a new one.',
  },
  TOKEN_EXPIRED: {
    status: 401,
    closeCode: 4109,
    message: 'The token has expired. Fetch a new one from your auth endpoint.',
  },
  MISSING_TOKEN: {
    status: 401,
    closeCode: 4001,
    message: 'Pass a token (tok= on /v7 and /v8, token= on /y).',
  },
  ORGANIZATION_MISMATCH: {
    status: 403,
    closeCode: 4001,
    message:
      'The token belongs to another organization than the room. Authenticate for the room’s organization.',
  },
  UNAUTHORIZED_ROOM_ACCESS: {
    status: 403,
    closeCode: 4001,
    message: 'The token grants no access to this room.',
  },
  ROOM_NOT_FOUND: {
    status: 404,
    closeCode: 4001,
    message: 'No room has this id. Create it first (or join with an access token).',
  },
  RESOURCE_NOT_FOUND: {
    status: 404,
    closeCode: 4000,
    message: 'Nothing has this id.',
  },
  NOT_FOUND: {
    status: 404,
    closeCode: 4000,
    message: 'No route matches this method and path.',
  },
  ROOM_ALREADY_EXISTS: {
    status: 409,
    closeCode: 4000,
    message: 'A room with this id exists already. Use the update or upsert endpoint.',
  },
  RESOURCE_ALREADY_EXISTS: {
    status: 409,
    closeCode: 4000,
    message: 'A resource with this id exists already.',
  },
  CANNOT_UPDATE_EXISTING_STORAGE: {
    status: 409,
    closeCode: 4000,
    message:
      'The room already has Storage; only an empty Storage can be initialized. Delete it first.',
  },
  ORGANIZATION_IMMUTABLE: {
    status: 422,
    closeCode: 4000,
    message:
      'A resource’s organizationId cannot change after creation. Create a new room in the other organization and migrate the data.',
  },
  INVALID_JSON: {
    status: 400,
    closeCode: 4000,
    message: 'The body is not valid JSON.',
  },
  UNPROCESSABLE_ENTITY: {
    status: 422,
    closeCode: 4000,
    message: 'The request is invalid.',
  },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    closeCode: 4000,
    message: 'Send the body with the content type this endpoint documents.',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    closeCode: 1009,
    message: 'The body or message is larger than MAX_MESSAGE_BYTES.',
  },
  INVALID_MESSAGE: {
    status: 400,
    closeCode: 4000,
    message: 'The socket message is not valid for this protocol.',
  },
  ROOM_FULL: {
    status: 403,
    closeCode: 4005,
    message: 'The room has reached MAX_CONNECTIONS_PER_ROOM on this node.',
  },
  ROOM_ID_UPDATED: {
    status: 409,
    closeCode: 4006,
    message: 'The room’s id has changed. Join it under its new id.',
  },
  ROOM_ACCESS_CHANGED: {
    status: 409,
    closeCode: 4100,
    message: 'The room’s permissions changed. Reconnect with a fresh token to get the new ones.',
  },
  ROOM_DELETED: {
    status: 410,
    closeCode: 4002,
    message: 'The room was deleted.',
  },
  HANDSHAKE_TIMEOUT: {
    status: 408,
    closeCode: 1008,
    message: 'The connection did not complete its join in time (HANDSHAKE_TIMEOUT_MS).',
  },
  SLOW_CONSUMER: {
    status: 503,
    closeCode: 1013,
    message:
      'The socket stopped reading and its outbound buffer passed MAX_OUTBOUND_BUFFER_BYTES. Reconnect.',
  },
  OVERLOADED: {
    status: 503,
    closeCode: 1013,
    message: 'This node holds MAX_ROOMS_LOADED rooms. Retry later or on another node.',
  },
  WRITE_STALLED: {
    status: 503,
    closeCode: 1013,
    message:
      'The room log could not be reached in time (WRITE_STALL_TIMEOUT_MS). Reconnect and resend.',
  },
  SHUTTING_DOWN: {
    status: 503,
    closeCode: 1012,
    message: 'This node is shutting down. Reconnect to another node.',
  },
  INTERNAL_ERROR: {
    status: 500,
    closeCode: 1011,
    message: 'An unexpected server error happened. It has been logged.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** A code of the catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** An error a client sees: REST answers `{ error: code, message }`, sockets close with its code. */
export class WeftError extends Error {
  override readonly name = 'WeftError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly closeCode: number;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.code = code;
    this.status = ERRORS[code].status;
    this.closeCode = ERRORS[code].closeCode;
  }

  /** The Liveblocks REST error body. */
  toJSON(): { error: ErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

/** Narrowing helper for catch blocks. */
export function isWeftError(error: unknown): error is WeftError {
  return error instanceof WeftError;
}
