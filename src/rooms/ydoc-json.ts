import * as Y from 'yjs';

/** Type names `GET /v2/rooms/{id}/ydoc?type=` accepts, and the Yjs type each stands for. */
const TYPES = {
  ytext: Y.Text,
  ymap: Y.Map,
  yarray: Y.Array,
  yxmlfragment: Y.XmlFragment,
  yxmlelement: Y.XmlElement,
  yxmltext: Y.XmlText,
} as const;

/** A type name of {@link TYPES}. */
export type YdocTypeName = keyof typeof TYPES;

/** Options of {@link ydocToJson}, as the REST API names them. */
export interface YdocJsonOptions {
  /** Only this top-level key. */
  key?: string;
  /** With `key`: read the key as this type and return its value alone. */
  type?: string;
  /** Text as formatting marks and runs instead of plain strings. */
  formatting?: boolean;
}

/** Thrown when `type` names a type the key was not written as. */
export class YdocTypeMismatchError extends Error {
  override readonly name = 'YdocTypeMismatchError';
}

/** True when the name is one of the accepted type names. */
export function isYdocTypeName(name: string): name is YdocTypeName {
  return Object.hasOwn(TYPES, name);
}

/**
 * The JSON view of a document: every top-level key with its value, the Yjs type of each
 * inferred from its content (text reads as a string, XML as markup, maps and arrays as JSON).
 * With `key`, only that key (`{ key: value }`); with `key` and a known `type`, the value alone.
 * Works on a copy, so that reading a key as a type never changes the live document.
 */
export function ydocToJson(source: Y.Doc | undefined, options: YdocJsonOptions = {}): unknown {
  const doc = new Y.Doc();
  if (source) Y.applyUpdate(doc, Y.encodeStateAsUpdate(source));
  const formatting = options.formatting === true;

  if (options.key !== undefined && options.type !== undefined && isYdocTypeName(options.type)) {
    const inferred = inferKind(doc, options.key);
    if (inferred !== 'empty' && !COMPATIBLE[inferred].includes(options.type)) {
      throw new YdocTypeMismatchError(
        `Key "${options.key}" holds a ${inferred}, which cannot be read as ${options.type}.`,
      );
    }
    return valueOf(doc.get(options.key, TYPES[options.type] as never), formatting);
  }

  const keys = options.key !== undefined ? [options.key] : [...doc.share.keys()];
  const view: Record<string, unknown> = {};
  for (const key of keys) {
    view[key] = valueOf(doc.get(key, CONSTRUCTORS[inferKind(doc, key)] as never), formatting);
  }
  return view;
}

/** What a top-level key holds, judged from its content. */
type Kind = 'text' | 'map' | 'array' | 'xml' | 'empty';

/** The type names each kind may be read as. */
const COMPATIBLE: Record<Exclude<Kind, 'empty'>, readonly YdocTypeName[]> = {
  text: ['ytext', 'yxmltext'],
  map: ['ymap', 'yxmlelement'],
  array: ['yarray'],
  xml: ['yxmlfragment', 'yxmlelement'],
};

/** The type each kind is read as when the caller names none; an empty key reads as text. */
const CONSTRUCTORS: Record<Kind, unknown> = {
  text: Y.Text,
  map: Y.Map,
  array: Y.Array,
  xml: Y.XmlFragment,
  empty: Y.Text,
};

function inferKind(doc: Y.Doc, key: string): Kind {
  const type = doc.share.get(key) as Y.AbstractType<unknown> | undefined;
  if (!type) return 'empty';

  const first = firstItem(type);
  if (!first) return type._map.size > 0 ? 'map' : 'empty';
  const content = first.content;
  if (
    content instanceof Y.ContentString ||
    content instanceof Y.ContentFormat ||
    content instanceof Y.ContentEmbed
  ) {
    return 'text';
  }
  if (content instanceof Y.ContentType) {
    const child = content.type;
    if (child instanceof Y.XmlElement || child instanceof Y.XmlText) return 'xml';
  }
  return 'array';
}

function firstItem(type: Y.AbstractType<unknown>): Y.Item | null {
  let item = type._start;
  while (item !== null && item.deleted) item = item.right;
  return item ?? type._start;
}

function valueOf(type: Y.AbstractType<unknown>, formatting: boolean): unknown {
  if (type instanceof Y.XmlText || type instanceof Y.XmlFragment || type instanceof Y.XmlElement) {
    return type.toString();
  }
  if (type instanceof Y.Text) return formatting ? formattedRuns(type) : type.toString();
  return type.toJSON();
}

/**
 * Text as a list of runs, each run preceded by marks `{ key, value }` for every attribute that
 * changes there (value null when the attribute ends), as the Liveblocks API renders formatting.
 */
function formattedRuns(text: Y.Text): unknown[] {
  const runs: unknown[] = [];
  let current: Record<string, unknown> = {};
  for (const op of text.toDelta() as { insert: unknown; attributes?: Record<string, unknown> }[]) {
    const next = op.attributes ?? {};
    for (const key of Object.keys(current)) {
      if (!(key in next)) runs.push({ key, value: null });
    }
    for (const [key, value] of Object.entries(next)) {
      if (current[key] !== value) runs.push({ key, value });
    }
    runs.push(op.insert);
    current = next;
  }
  return runs;
}
