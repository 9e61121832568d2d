/**
 * Walking a tree: parents before children, children in their order (list items by position),
 * iteratively so that depth is no concern. And the create op that rebuilds a node on a client.
 */
import { CrdtType, OpCode } from './ops.js';
import type { LiveNode } from './tree-node.js';

/** Visits `root` and the nodes below it, parents first; `enter` says whether to go below. */
export function visit(root: LiveNode, enter: (node: LiveNode) => boolean): void {
  const pending: LiveNode[] = [root];
  while (pending.length > 0) {
    const node = pending.pop() as LiveNode;
    if (!enter(node) || node.type === CrdtType.REGISTER) {
      continue;
    }
    const children = node.type === CrdtType.LIST ? node.items : [...node.children.values()];
    for (let i = children.length - 1; i >= 0; i--) {
      pending.push(children[i] as LiveNode);
    }
  }
}

/** The create op (without `opId`) of one node below the root. */
export function createOp(node: LiveNode): unknown {
  const parentId = (node.parent as LiveNode).id;
  const base = { id: node.id, parentId, parentKey: node.key };
  switch (node.type) {
    case CrdtType.OBJECT:
      return { type: OpCode.CREATE_OBJECT, ...base, data: Object.fromEntries(node.data) };
    case CrdtType.LIST:
      return { type: OpCode.CREATE_LIST, ...base };
    case CrdtType.MAP:
      return { type: OpCode.CREATE_MAP, ...base };
    case CrdtType.REGISTER:
      return { type: OpCode.CREATE_REGISTER, ...base, data: node.data };
  }
}
