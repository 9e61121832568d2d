/**
 * Wire shapes of Liveblocks Storage as `@liveblocks/client` 3.24.2 speaks them: op codes, node
 * types, the ops of `UPDATE_STORAGE` (201), the v7 `STORAGE_STATE_V7` items and the v8
 * `STORAGE_CHUNK` nodes. Numbers and field names are protocol facts taken from the published
 * `@liveblocks/core` (`OpCode`, `CrdtType`, `SerializedCrdt`, `CompactNode`).
 */

/** A JSON value as it travels in ops and serialized nodes. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON object. */
export type JsonObject = { [key: string]: Json };

/** Op codes (`OpCode` of `@liveblocks/core`). */
export const OpCode = {
  INIT: 0,
  SET_PARENT_KEY: 1,
  CREATE_LIST: 2,
  UPDATE_OBJECT: 3,
  CREATE_OBJECT: 4,
  DELETE_CRDT: 5,
  DELETE_OBJECT_KEY: 6,
  CREATE_MAP: 7,
  CREATE_REGISTER: 8,
  CREATE_TEXT: 9,
  UPDATE_TEXT: 10,
  CREATE_FILE: 11,
} as const;

/** One op code. */
export type OpCode = (typeof OpCode)[keyof typeof OpCode];

/** Node types (`CrdtType` of `@liveblocks/core`). */
export const CrdtType = {
  OBJECT: 0,
  LIST: 1,
  MAP: 2,
  REGISTER: 3,
  TEXT: 4,
  FILE: 5,
} as const;

/** One node type. */
export type CrdtType = (typeof CrdtType)[keyof typeof CrdtType];

/** The node types Weft stores. LiveText and LiveFile are refused (see `UNSUPPORTED_OP_NAMES`). */
export type StoredCrdtType =
  typeof CrdtType.OBJECT | typeof CrdtType.LIST | typeof CrdtType.MAP | typeof CrdtType.REGISTER;

/** Op kinds a newer client may send that Weft refuses with `REJECT_STORAGE_OP`, by code. */
export const UNSUPPORTED_OP_NAMES: Readonly<Record<number, string>> = {
  [OpCode.CREATE_TEXT]: 'CREATE_TEXT',
  [OpCode.UPDATE_TEXT]: 'UPDATE_TEXT',
  [OpCode.CREATE_FILE]: 'CREATE_FILE',
};

/** The id of the root LiveObject, fixed by the protocol. */
export const ROOT_ID = 'root';

/** The id of an ignore-acknowledgement (`{ type: 5, id: "ACK", opId }`). */
export const IGNORED_OP_ID = 'ACK';

/** Where a created list item goes: `"set"` replaces the item at the position, `"push"` appends. */
export type CreateIntent = 'set' | 'push';

/** Fields every create op carries. */
interface CreateOpBase {
  opId?: string;
  id: string;
  parentId: string;
  parentKey: string;
  intent?: CreateIntent;
  deletedId?: string;
}

/** Creates a LiveObject with its plain (non-live) fields. */
export interface CreateObjectOp extends CreateOpBase {
  type: typeof OpCode.CREATE_OBJECT;
  data: JsonObject;
}

/** Creates an empty LiveList. */
export interface CreateListOp extends CreateOpBase {
  type: typeof OpCode.CREATE_LIST;
}

/** Creates an empty LiveMap. */
export interface CreateMapOp extends CreateOpBase {
  type: typeof OpCode.CREATE_MAP;
}

/** Creates a register: a plain JSON value held by a LiveMap or a LiveList. */
export interface CreateRegisterOp extends CreateOpBase {
  type: typeof OpCode.CREATE_REGISTER;
  data: Json;
}

/** Any create op Weft applies. */
export type CreateOp = CreateObjectOp | CreateListOp | CreateMapOp | CreateRegisterOp;

/** Sets plain fields of a LiveObject (replacing any live child under those keys). */
export interface UpdateObjectOp {
  opId?: string;
  type: typeof OpCode.UPDATE_OBJECT;
  id: string;
  data: JsonObject;
}

/** Deletes a node and everything under it. With `id: "ACK"` it is an ignore-acknowledgement. */
export interface DeleteCrdtOp {
  opId?: string;
  type: typeof OpCode.DELETE_CRDT;
  id: string;
}

/** Moves a LiveList item to another position in the same list. */
export interface SetParentKeyOp {
  opId?: string;
  type: typeof OpCode.SET_PARENT_KEY;
  id: string;
  parentKey: string;
}

/** Deletes one key of a LiveObject. */
export interface DeleteObjectKeyOp {
  opId?: string;
  type: typeof OpCode.DELETE_OBJECT_KEY;
  id: string;
  key: string;
}

/** Any op Weft applies. */
export type Op = CreateOp | UpdateObjectOp | DeleteCrdtOp | SetParentKeyOp | DeleteObjectKeyOp;

/** The acknowledgement of an op the server saw but did not apply. */
export interface IgnoredOp {
  type: typeof OpCode.DELETE_CRDT;
  id: typeof IGNORED_OP_ID;
  opId: string;
}

/** The root of a v7 storage state: a LiveObject without parent. */
export interface SerializedRootObject {
  type: typeof CrdtType.OBJECT;
  data: JsonObject;
}

/** A LiveObject below the root. */
export interface SerializedObject {
  type: typeof CrdtType.OBJECT;
  parentId: string;
  parentKey: string;
  data: JsonObject;
}

/** A LiveList; its items name it as their parent. */
export interface SerializedList {
  type: typeof CrdtType.LIST;
  parentId: string;
  parentKey: string;
}

/** A LiveMap; its entries name it as their parent. */
export interface SerializedMap {
  type: typeof CrdtType.MAP;
  parentId: string;
  parentKey: string;
}

/** A plain JSON value held by a LiveList or a LiveMap. */
export interface SerializedRegister {
  type: typeof CrdtType.REGISTER;
  parentId: string;
  parentKey: string;
  data: Json;
}

/** One node of the v7 `STORAGE_STATE_V7` items. */
export type SerializedCrdt =
  SerializedRootObject | SerializedObject | SerializedList | SerializedMap | SerializedRegister;

/** The root of the v8 storage stream: `["root", data]`. */
export type CompactRootNode = readonly [id: 'root', data: JsonObject];

/** A LiveObject in the v8 stream. */
export type CompactObjectNode = readonly [
  id: string,
  type: typeof CrdtType.OBJECT,
  parentId: string,
  parentKey: string,
  data: JsonObject,
];

/** A LiveList in the v8 stream. */
export type CompactListNode = readonly [
  id: string,
  type: typeof CrdtType.LIST,
  parentId: string,
  parentKey: string,
];

/** A LiveMap in the v8 stream. */
export type CompactMapNode = readonly [
  id: string,
  type: typeof CrdtType.MAP,
  parentId: string,
  parentKey: string,
];

/** A register in the v8 stream. */
export type CompactRegisterNode = readonly [
  id: string,
  type: typeof CrdtType.REGISTER,
  parentId: string,
  parentKey: string,
  data: Json,
];

/** One node of the v8 `STORAGE_CHUNK` messages. */
export type CompactNode =
  CompactRootNode | CompactObjectNode | CompactListNode | CompactMapNode | CompactRegisterNode;
