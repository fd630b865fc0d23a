/**
 * A session's subscriptions decided again under the connection's ACL: at a resume (they were
 * granted to an earlier connection) and after an ACL reload (Connection.aclChanged).
 */
import { Effect, Runtime } from "effect"
import { SubscribeVerdict } from "../../domain/auth/authorize.js"
import type { StorageError } from "../../services/errors.js"
import type { Connection } from "./Connection.js"
import type { LiveSession } from "./engine/LiveSession.js"

/**
 * Removes the session's subscriptions this connection's ACL does not grant (`$share/g/F` is
 * checked on F, as at SUBSCRIBE), gives the others the per-delivery read check they now need
 * (or none), and drops the messages owed that it may not read; logs one line saying what went.
 * Returns the Effect persisting that, or null.
 */
export const recheckGrants = (conn: Connection, session: LiveSession): Effect.Effect<void, StorageError> | null => {
  const acl = conn.acl!
  const revoked: Array<string> = []
  for (const [raw, sub] of session.subscriptions) {
    const verdict = acl.verdict(raw)
    if (verdict === SubscribeVerdict.Refused) revoked.push(raw)
    else sub.check = verdict === SubscribeVerdict.Filtered ? acl.readCheck : null
  }
  // Before the resume the unacknowledged PUBLISHes have yet to be sent again.
  const result = conn.ctx.engine.revokeGrants(session, revoked, (topic) => acl.mayRead(topic), session.conn !== conn)
  if (result === null) return null
  const what: Array<string> = []
  if (result.removed.length > 0) what.push(`subscriptions the ACL no longer grants removed: ${result.removed.join(", ")}`)
  if (result.dropped > 0) what.push(`${result.dropped} queued message(s) it may no longer read dropped`)
  const who = acl.username === null ? conn.clientId : `${conn.clientId} (user ${acl.username})`
  Runtime.runFork(conn.ctx.runtime)(Effect.logInfo(`mqtt: client ${who}: ${what.join("; ")}`))
  return result.persist
}
