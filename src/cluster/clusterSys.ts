/**
 * `$SYS` as the membership changes. `$SYS/brokers` lists the member ids, comma-separated as
 * EMQX does: each node publishes it from its own view (never forwarded: every node folds the
 * same member list from etcd) whenever the list changes. A node that joins gets this node's
 * `$SYS/brokers/<id>/` figures (sys.ts) at once rather than at the next interval; when a node
 * leaves, what it published there is no longer retained here.
 */
import type { Engine } from "../mqtt/engine/Engine.js"
import { nodeSysPrefix, sysMessage } from "../mqtt/engine/sys.js"
import type { NodeLink } from "./NodeLink.js"

export const MEMBERS_TOPIC = "$SYS/brokers"

export const publishMembers = (engine: Engine, ids: ReadonlyArray<string>, now: number): void =>
  engine.publishSys(sysMessage(MEMBERS_TOPIC, Buffer.from([...ids].sort().join(",")), now), false)

export const forgetNodeSys = (engine: Engine, id: string): void => {
  const prefix = nodeSysPrefix(id)
  for (const topic of engine.retained.keys()) if (topic.startsWith(prefix)) engine.retained.delete(topic)
}

const NO_GROUPS: ReadonlyArray<string> = []

export const sendOwnSys = (engine: Engine, link: NodeLink, self: string, to: string): void => {
  const prefix = nodeSysPrefix(self)
  for (const [topic, msg] of engine.retained) if (topic.startsWith(prefix)) link.send(to, msg, NO_GROUPS)
}
