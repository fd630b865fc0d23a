/**
 * The Mosquitto ACL file (mosquitto 2.x syntax), parsed to the ordered rule list:
 *
 *     # comment
 *     topic read public/#           <- before any `user` line: anonymous clients only
 *     user alice
 *     topic readwrite alice/#       <- alice's rules (access defaults to readwrite)
 *     topic deny alice/secret
 *     pattern write devices/%c/up   <- every client, %c = client id, %u = username
 *
 * As in mosquitto, the topic is the rest of the line after the access word (so it may hold
 * spaces) and must be a valid topic filter; unlike mosquitto, a lone access word (`topic read`)
 * is an error rather than a rule for a topic named "read". Pure: text in, rules or errors out.
 */
import { validateTopicFilter } from "../topic/TopicFilter.js"
import type { AclAccess, AclRule } from "./AclRule.js"
import type { LineError, Parsed } from "./LineError.js"

const ACCESS: ReadonlyArray<string> = ["read", "write", "readwrite", "deny"]

/** The first blank-separated word of `text` and the rest, trimmed. */
const word = (text: string): [string, string] => {
  const m = /^(\S+)\s*(.*)$/.exec(text)
  return m === null ? ["", ""] : [m[1]!, m[2]!]
}

export const parseAclFile = (text: string): Parsed<ReadonlyArray<AclRule>> => {
  const rules: Array<AclRule> = []
  const errors: Array<LineError> = []
  let user: string | null = null
  const all = text.split(/\r?\n/)
  for (let i = 0; i < all.length; i++) {
    const line = i + 1
    const trimmed = all[i]!.trim()
    if (trimmed === "" || trimmed.startsWith("#")) continue
    const [keyword, rest] = word(trimmed)
    if (keyword === "user") {
      if (rest === "") errors.push({ line, message: `"user" needs a username` })
      else user = rest
      continue
    }
    if (keyword !== "topic" && keyword !== "pattern") {
      errors.push({ line, message: `unknown keyword "${keyword}": a line starts with user, topic or pattern` })
      continue
    }
    if (rest === "") {
      errors.push({ line, message: `"${keyword}" needs a topic filter` })
      continue
    }
    let [access, topic] = word(rest)
    if (topic === "") {
      if (ACCESS.includes(access)) {
        errors.push({ line, message: `"${keyword} ${access}" needs a topic filter after the access` })
        continue
      }
      topic = access
      access = "readwrite"
    } else if (!ACCESS.includes(access)) {
      errors.push({ line, message: `unknown access "${access}": read, write, readwrite or deny` })
      continue
    }
    if (validateTopicFilter(topic, Infinity, 65535) !== 0) {
      errors.push({ line, message: `"${topic}" is not a valid topic filter` })
      continue
    }
    rules.push({ kind: keyword, username: keyword === "topic" ? user : null, access: access as AclAccess, topic })
  }
  return errors.length > 0 ? { _tag: "Invalid", errors } : { _tag: "Parsed", value: rules }
}
