/**
 * The auth decider: the configured files are the declared state; `decideSync` compares them with
 * the read model and returns only the differences as events (none when nothing changed), so
 * a boot or a reload with the same files appends nothing. Pure.
 */
import { type AclRule, sameRules } from "./AclRule.js"
import type { AuthState } from "./AuthState.js"
import { AclCleared, AclReplaced, type AuthEvent, UserAdded, UserPasswordChanged, UserRemoved } from "./events.js"

/** What the files say: null for a file that is not configured. */
export interface DeclaredAuth {
  readonly users: ReadonlyArray<{ readonly username: string; readonly passwordHash: string }> | null
  readonly acl: ReadonlyArray<AclRule> | null
}

/** Removals first (in the read model's order), then additions and changes in file order. */
export const decideSync = (state: AuthState, declared: DeclaredAuth): Array<AuthEvent> => {
  const events: Array<AuthEvent> = []
  const wanted = new Map<string, string>()
  for (const u of declared.users ?? []) wanted.set(u.username, u.passwordHash)
  for (const username of state.users.keys()) {
    if (!wanted.has(username)) events.push(new UserRemoved({ username }))
  }
  for (const [username, passwordHash] of wanted) {
    const current = state.users.get(username)
    if (current === undefined) events.push(new UserAdded({ username, passwordHash }))
    else if (current !== passwordHash) events.push(new UserPasswordChanged({ username, passwordHash }))
  }
  if (declared.acl === null) {
    if (state.acl !== null) events.push(new AclCleared())
  } else if (state.acl === null || !sameRules(state.acl, declared.acl)) {
    events.push(new AclReplaced({ rules: declared.acl }))
  }
  return events
}
