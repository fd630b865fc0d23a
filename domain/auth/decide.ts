/**
 * The auth decider: the configured files are the declared state; `decideSync` compares them with
 * the read model and returns only the differences as events (none when nothing changed), so
 * a boot or a reload with the same files appends nothing. Pure.
 */
import { type AclRule, sameRules } from "./AclRule.js"
import type { AuthState } from "./AuthState.js"
import {
  AclCleared,
  AclReplaced,
  type AuthEvent,
  ScramCredentialRemoved,
  ScramCredentialSet,
  UserAdded,
  UserPasswordChanged,
  UserRemoved
} from "./events.js"
import { parsePasswordHash } from "./passwordFile.js"
import type { ScramEntry } from "./scramFile.js"

/** What the files say: null for a file that is not configured. */
export interface DeclaredAuth {
  readonly users: ReadonlyArray<{ readonly username: string; readonly passwordHash: string }> | null
  readonly acl: ReadonlyArray<AclRule> | null
  /** The SCRAM sidecar's entries (empty when it does not exist); null without a password file. */
  readonly scram?: ReadonlyArray<ScramEntry> | null
}

/** Sidecar entries that belong to no current password line, and why (the broker warns about them). */
export interface StaleScram {
  readonly username: string
  readonly reason: "no-user" | "password-changed"
}

/**
 * The sidecar entries that count: their user is in the password file and its password line is
 * the one they were written with (same salt). The others are stale: ignored.
 */
export const boundScram = (declared: DeclaredAuth): { readonly bound: ReadonlyArray<ScramEntry>; readonly stale: ReadonlyArray<StaleScram> } => {
  const hashes = new Map<string, string>()
  for (const u of declared.users ?? []) hashes.set(u.username, u.passwordHash)
  const bound: Array<ScramEntry> = []
  const stale: Array<StaleScram> = []
  for (const entry of declared.scram ?? []) {
    const hash = hashes.get(entry.username)
    if (hash === undefined) {
      stale.push({ username: entry.username, reason: "no-user" })
      continue
    }
    const parsed = parsePasswordHash(hash)
    if (typeof parsed === "string" || parsed.salt.toString("base64") !== entry.passwordSalt) {
      stale.push({ username: entry.username, reason: "password-changed" })
      continue
    }
    bound.push(entry)
  }
  return { bound, stale }
}

const sameVerifier = (a: ScramCredentialSet, b: ScramEntry): boolean =>
  a.iterations === b.iterations && a.salt === b.salt && a.storedKey === b.storedKey && a.serverKey === b.serverKey

/**
 * Removals first (SCRAM verifiers, then users, in the read model's order), then additions and
 * changes in file order (users, then their verifiers), then the ACL. With `keepUndeclared` (a
 * cluster node, where other nodes may declare them) a file that is not configured changes nothing.
 */
export const decideSync = (state: AuthState, declared: DeclaredAuth, keepUndeclared = false): Array<AuthEvent> => {
  const events: Array<AuthEvent> = []
  if (!keepUndeclared || declared.users !== null) decideUsers(state, declared, events)
  if (declared.acl === null) {
    if (state.acl !== null && !keepUndeclared) events.push(new AclCleared())
  } else if (state.acl === null || !sameRules(state.acl, declared.acl)) {
    events.push(new AclReplaced({ rules: declared.acl }))
  }
  return events
}

/** Users and their SCRAM verifiers: removals first, then additions and changes in file order. */
const decideUsers = (state: AuthState, declared: DeclaredAuth, events: Array<AuthEvent>): void => {
  const wanted = new Map<string, string>()
  for (const u of declared.users ?? []) wanted.set(u.username, u.passwordHash)
  const wantedScram = new Map<string, ScramEntry>()
  for (const e of boundScram(declared).bound) wantedScram.set(`${e.mechanism}:${e.username}`, e)
  for (const [mechanism, users] of state.scram) {
    for (const username of users.keys()) {
      if (!wantedScram.has(`${mechanism}:${username}`)) events.push(new ScramCredentialRemoved({ username, mechanism }))
    }
  }
  for (const username of state.users.keys()) {
    if (!wanted.has(username)) events.push(new UserRemoved({ username }))
  }
  for (const [username, passwordHash] of wanted) {
    const current = state.users.get(username)
    if (current === undefined) events.push(new UserAdded({ username, passwordHash }))
    else if (current !== passwordHash) events.push(new UserPasswordChanged({ username, passwordHash }))
  }
  for (const entry of wantedScram.values()) {
    const current = state.scram.get(entry.mechanism)!.get(entry.username)
    if (current !== undefined && sameVerifier(current, entry)) continue
    const { username, mechanism, iterations, salt, storedKey, serverKey } = entry
    events.push(new ScramCredentialSet({ username, mechanism, iterations, salt, storedKey, serverKey }))
  }
}
