/**
 * The auth read model: users with their password hashes, their SCRAM verifiers per mechanism,
 * and the ACL rule list (null when no ACL is configured, which allows everything). Built by
 * folding the `acl` stream with `evolve`; `evolve` updates the state in place (as evolveTopics
 * does), so replaying n users is O(n).
 */
import type { AclRule } from "./AclRule.js"
import type { AuthEvent, ScramCredentialSet, ScramMechanism } from "./events.js"

export interface AuthState {
  /** username -> password hash as written in the password file. */
  readonly users: Map<string, string>
  /** mechanism -> username -> the event that set its verifier (base64 fields). */
  readonly scram: ReadonlyMap<ScramMechanism, Map<string, ScramCredentialSet>>
  acl: ReadonlyArray<AclRule> | null
}

export const emptyAuthState = (): AuthState => ({
  users: new Map(),
  scram: new Map([["SCRAM-SHA-256", new Map()], ["SCRAM-SHA-512", new Map()]]),
  acl: null
})

export const evolve = (state: AuthState, event: AuthEvent): AuthState => {
  switch (event._tag) {
    case "UserAdded":
    case "UserPasswordChanged":
      state.users.set(event.username, event.passwordHash)
      break
    case "UserRemoved":
      state.users.delete(event.username)
      break
    case "ScramCredentialSet":
      state.scram.get(event.mechanism)!.set(event.username, event)
      break
    case "ScramCredentialRemoved":
      state.scram.get(event.mechanism)!.delete(event.username)
      break
    case "AclReplaced":
      state.acl = event.rules
      break
    case "AclCleared":
      state.acl = null
      break
  }
  return state
}
