/**
 * One line of a Mosquitto ACL file, as the broker keeps it: `topic` rules belong to the user
 * section they appear in (`username: null` = the lines before the first `user` line, which
 * apply to anonymous clients only), `pattern` rules apply to every client after `%c` / `%u`
 * substitution. The whole ordered list is what an `AclReplaced` event carries.
 */
import { Schema } from "effect"

export const AclAccess = Schema.Literal("read", "write", "readwrite", "deny")
export type AclAccess = typeof AclAccess.Type

export const AclRule = Schema.Struct({
  kind: Schema.Literal("topic", "pattern"),
  /** The `user` section of a topic rule; null before the first `user` line, and for patterns. */
  username: Schema.NullOr(Schema.String),
  access: AclAccess,
  /** A topic filter; a pattern's may hold `%c` (client id) and `%u` (username). */
  topic: Schema.String
})
export type AclRule = typeof AclRule.Type

export const sameRules = (a: ReadonlyArray<AclRule>, b: ReadonlyArray<AclRule>): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.kind !== y.kind || x.username !== y.username || x.access !== y.access || x.topic !== y.topic) return false
  }
  return true
}
