/**
 * `$SYS` about the cluster itself, on each node from its own view of the membership (never
 * forwarded: every node folds the same member list from etcd). `$SYS/brokers` lists the member
 * ids, comma-separated as EMQX does, and is published again whenever the list changes; when a
 * node leaves, what it published under `$SYS/brokers/<id>/` (sys.ts) is no longer retained here.
 */
import type { Engine } from "../mqtt/engine/Engine.js"
import { nodeSysPrefix, sysMessage } from "../mqtt/engine/sys.js"

export const MEMBERS_TOPIC = "$SYS/brokers"

export const publishMembers = (engine: Engine, ids: ReadonlyArray<string>, now: number): void =>
  engine.publishSys(sysMessage(MEMBERS_TOPIC, Buffer.from([...ids].sort().join(",")), now), false)

export const forgetNodeSys = (engine: Engine, id: string): void => {
  const prefix = nodeSysPrefix(id)
  for (const topic of engine.retained.keys()) if (topic.startsWith(prefix)) engine.retained.delete(topic)
}
