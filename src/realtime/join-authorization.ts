import {
  canEnter,
  resolveAccessTokenPermissions,
  resolveRoomAccesses,
  type PermissionMatrix,
} from '../auth/permissions.js';
import type { TokenService, VerifiedToken } from '../auth/token-service.js';
import { WeftError } from '../errors.js';
import { roomIdProblem, type RoomRecord, type RoomRepository } from '../store/room-repository.js';

/** What a socket asked for: the room id and the token from its URL. */
export interface JoinRequest {
  readonly roomId: string | undefined;
  readonly token: string | undefined;
}

/** A join that passed every check, with what it resolved. */
export interface JoinGrant {
  readonly token: VerifiedToken;
  readonly room: RoomRecord;
  readonly permissions: PermissionMatrix;
  /** True when this join created the room (an access token joining a missing room). */
  readonly created: boolean;
}

/** What {@link authorizeJoin} reads. */
export interface JoinAuthorizationDeps {
  readonly tokens: TokenService;
  readonly rooms: RoomRepository;
}

/**
 * The join sequence every socket protocol shares, in this order:
 * 1. the token is verified (signature, algorithm, expiry, shape);
 * 2. the room is looked up by its id (ids are unique across the project);
 * 3. the token's organization must be the room's — before any permission is looked at, so that
 *    a token of another organization learns nothing about the room;
 * 4. permissions: ID tokens from the room's accesses (the room must exist); access tokens from
 *    their patterns, and they may create a missing room in their own organization.
 *
 * Throws the WeftError whose close code the socket is closed with.
 */
export async function authorizeJoin(
  deps: JoinAuthorizationDeps,
  request: JoinRequest,
): Promise<JoinGrant> {
  if (request.token === undefined || request.token === '') throw new WeftError('MISSING_TOKEN');
  const token = await deps.tokens.verify(request.token);

  const roomId = request.roomId;
  if (roomId === undefined) {
    throw new WeftError('INVALID_MESSAGE', 'Pass the room id (roomId= on /v7 and /v8).');
  }
  // The REST API's rule: a socket must not create a room that REST could not name.
  const problem = roomIdProblem(roomId);
  if (problem) throw new WeftError('INVALID_MESSAGE', `Invalid room id: ${problem}.`);

  let room = await deps.rooms.get(roomId);
  let created = false;
  if (room) requireSameOrganization(token, room);

  if (!room) {
    if (token.kind === 'id') {
      throw new WeftError('ROOM_NOT_FOUND', `Room "${roomId}" does not exist.`);
    }
    // Only a token that would be allowed into the room may bring it into existence.
    if (!canEnterWith(resolveAccessTokenPermissions(token.permissions, roomId))) {
      throw new WeftError('UNAUTHORIZED_ROOM_ACCESS');
    }
    const result = await deps.rooms.createIfAbsent(newRoom(roomId, token.organizationId));
    // Created meanwhile by someone else, perhaps in another organization: the same mismatch.
    requireSameOrganization(token, result.room);
    room = result.room;
    created = result.created;
  }

  const permissions = permissionsOf(token, room);
  if (!canEnter(permissions)) throw new WeftError('UNAUTHORIZED_ROOM_ACCESS');
  return { token, room, permissions, created };
}

/** A verified token's access to a room (the room's organization already checked). */
export function permissionsOf(token: VerifiedToken, room: RoomRecord): PermissionMatrix {
  if (token.kind === 'acc') {
    return (
      resolveAccessTokenPermissions(token.permissions, room.id) ?? resolveRoomAccesses(NO_ACCESS)
    );
  }
  return resolveRoomAccesses({
    defaultAccesses: room.defaultAccesses,
    groupsAccesses: token.groupIds
      .map((groupId) => room.groupsAccesses[groupId])
      .filter((scopes): scopes is string[] => scopes !== undefined),
    userAccesses: room.usersAccesses[token.userId] ?? [],
  });
}

const NO_ACCESS = { defaultAccesses: [], groupsAccesses: [], userAccesses: [] };

function requireSameOrganization(token: VerifiedToken, room: RoomRecord) {
  if (token.organizationId !== room.organizationId) throw new WeftError('ORGANIZATION_MISMATCH');
}

function canEnterWith(matrix: PermissionMatrix | undefined): boolean {
  return matrix !== undefined && canEnter(matrix);
}

function newRoom(id: string, organizationId: string): RoomRecord {
  return {
    id,
    organizationId,
    createdAt: new Date().toISOString(),
    lastConnectionAt: null,
    // The access token governs its own holders; ID-token users need explicit accesses.
    defaultAccesses: [],
    usersAccesses: {},
    groupsAccesses: {},
    metadata: {},
  };
}
