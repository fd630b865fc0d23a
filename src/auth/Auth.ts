/**
 * MQTT authentication and authorization: the read model of the event stream `acl` (users with
 * their password hashes, the ACL rules), kept in step with the configured Mosquitto files.
 *
 * At boot the stream is replayed, the files are read, and only the differences are appended
 * (expected-version) and folded; a file that does not parse stops the broker. `reload` (SIGHUP,
 * as in Mosquitto, or a direct call from tests) does the same later, keeps the old state when a
 * file is invalid, disconnects the live connections of removed users and of users whose
 * password changed (DISCONNECT 0x98, administrative action), and moves the ACL generation on so
 * every connection's next PUBLISH/SUBSCRIBE uses the new rules. After a new ACL it tells every
 * connection holding a ClientAcl (`AclHolder`), which re-checks the subscriptions granted under
 * the old rules: a revoked grant must go at once, and only subscriptions decided as filtered
 * check each delivery, so the decision is taken again.
 *
 * SCRAM verifiers (the password file's `.scram` sidecar, written by `robustmq passwd`) are in the
 * same stream; a changed or removed verifier closes that user's connections like a password
 * change. `unsafeScramVerifier` hands the Kafka SCRAM exchange a user's verifier from memory.
 *
 * Per CONNECT, `unsafeAuthenticate` answers from memory when it can (no users, unknown user,
 * cached credentials, `$6$`) and otherwise verifies off the event loop with `crypto.pbkdf2`.
 * With `[auth.jwt]`, a password that is a JWT is verified instead (src/auth/jwt, async too): the
 * token names the user and may narrow its ACL with an `acl` claim, carried to `unsafeClientAcl`
 * as the `Identity`. Nothing here runs per message: ClientAcl does that, with its own cache.
 */
import { Context, Effect, Layer, Option, Runtime, Schema } from "effect"
import { BrokerConfig } from "../../config/BrokerConfig.js"
import { type AuthConfig, jwtConfigured } from "../../config/BrokerConfigShape.js"
import { type AclClaim, compileAclClaim } from "../../domain/auth/aclClaim.js"
import { type AuthState, emptyAuthState, evolve } from "../../domain/auth/AuthState.js"
import { boundScram, decideSync } from "../../domain/auth/decide.js"
import { ACL_STREAM, AuthEvent, type ScramCredentialSet, type ScramMechanism } from "../../domain/auth/events.js"
import { parsePasswordHash } from "../../domain/auth/passwordFile.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import type { StorageError, VersionConflict } from "../../services/errors.js"
import type { EventStore } from "../../services/EventStore.js"
import { StreamFeed } from "../../services/StreamFeed.js"
import * as ControlStream from "../meta/ControlStream.js"
import { makeDebugLog } from "../net/debugLog.js"
import { type AuthFileError, readDeclared } from "./authFiles.js"
import { type AclSource, ClientAcl } from "./ClientAcl.js"
import { jwtOf } from "./jwt/jwtPassword.js"
import * as JwtVerifier from "./jwt/JwtVerifier.js"
import { VerifiedCache, verifyPbkdf2, verifySha512 } from "./passwordHash.js"
import type { ScramVerifier } from "./scramKeys.js"

const encodeEvent = Schema.encodeSync(AuthEvent)
const decodeEvent = Schema.decodeUnknownSync(AuthEvent)

/** A live connection the service may have to end (src/mqtt/Connection.ts, src/kafka/KafkaConnection.ts). */
export interface Kickable {
  close(reason?: number): void
}

/** A connection with a ClientAcl, told when the ACL changed (src/mqtt/Connection.ts). */
export interface AclHolder {
  /** Re-checks what was granted under the previous rules; returns the subscriptions removed. */
  aclChanged(): number
}

/** Who a CONNECT proved to be when its credential names the user itself (a JWT). */
export interface Identity {
  readonly username: string
  /** The token's `acl` claim (narrows the ACL file's grants, or is the whole ACL without one); null: none. */
  readonly acl: AclClaim | null
}

/** What a sync (boot or reload) changed. */
export interface AuthChanges {
  readonly usersAdded: ReadonlyArray<string>
  readonly passwordsChanged: ReadonlyArray<string>
  readonly usersRemoved: ReadonlyArray<string>
  /** "user (mechanism)" whose SCRAM verifier was set / removed. */
  readonly scramSet: ReadonlyArray<string>
  readonly scramRemoved: ReadonlyArray<string>
  readonly acl: "replaced" | "cleared" | "unchanged"
  /** Connections ended because their user was removed or its password or SCRAM verifier changed. */
  readonly kicked: number
  /** Subscriptions of live connections the new ACL no longer grants, removed. */
  readonly subscriptionsRemoved: number
}

export interface AuthService {
  /**
   * False when nothing is configured (no files, anonymous clients allowed): connections then
   * skip every check, and the hot path costs one null check.
   */
  readonly active: boolean
  /**
   * CONNECT: 0 (accepted), 0x86 (bad user name or password) or 0x87 (not authorized) now, or -1
   * when the password is being verified off the event loop: `done` then gets the code, and for
   * an accepted JWT the identity it proves (pass it to `unsafeClientAcl`). `jwt`: a password
   * that is a JWT is verified as one (MQTT CONNECT with `[auth.jwt]`); Kafka SASL leaves it
   * false, since a token's `acl` claim would not bind a Kafka client.
   */
  readonly unsafeAuthenticate: (
    username: string | undefined,
    password: Uint8Array | undefined,
    done: (reason: number, identity?: Identity) => void,
    jwt?: boolean
  ) => number
  /**
   * The ACL view of an accepted client, or null when no ACL is configured (every topic
   * allowed). While there are no users the name a client sends was not verified, so the ACL
   * treats it as anonymous, unless `verified` (a TLS client certificate's CN) says it was. An
   * `identity` (a JWT) names the user, and its `acl` claim narrows the view.
   */
  readonly unsafeClientAcl: (username: string | undefined, clientId: string, verified?: boolean, identity?: Identity) => ClientAcl | null
  /**
   * Kafka SCRAM: the user's verifier for `mechanism` (the same object until it changes), or
   * "no-scram" for a user without one (set by mosquitto_passwd), "unknown" for no such user.
   */
  readonly unsafeScramVerifier: (mechanism: ScramMechanism, username: string) => ScramVerifier | "unknown" | "no-scram"
  /** A connection of `username` was accepted / closed (for kicks on reload). */
  readonly unsafeTrack: (username: string, conn: Kickable) => void
  readonly unsafeUntrack: (username: string, conn: Kickable) => void
  /** A connection holding a ClientAcl was accepted / closed (told after each ACL change). */
  readonly unsafeWatchAcl: (holder: AclHolder) => void
  readonly unsafeUnwatchAcl: (holder: AclHolder) => void
  /** Re-reads the files and applies the differences (what SIGHUP runs). */
  readonly reload: Effect.Effect<AuthChanges, AuthFileError | StorageError | VersionConflict>
  /** Re-reads the `[auth.jwt]` key source (SIGHUP too); null without one. A bad source keeps the old keys. */
  readonly reloadJwt: Effect.Effect<string | null, AuthFileError>
  /** The read model (users and rules), for tests and tools; do not mutate. */
  readonly state: AuthState
  /** Verified-credential cache size (tests). */
  readonly cachedCredentials: () => number
}

export class Auth extends Context.Tag("broker/Auth")<Auth, AuthService>() {}

export const isActive = (config: AuthConfig): boolean =>
  !config.allowAnonymous || config.passwordFile !== "" || config.aclFile !== "" || jwtConfigured(config.jwt)

const noChanges = () => ({
  usersAdded: [] as Array<string>,
  passwordsChanged: [] as Array<string>,
  usersRemoved: [] as Array<string>,
  scramSet: [] as Array<string>,
  scramRemoved: [] as Array<string>,
  acl: "unchanged" as AuthChanges["acl"],
  kicked: 0,
  subscriptionsRemoved: 0
})

const describeChanges = (c: AuthChanges): string => {
  const parts: Array<string> = []
  if (c.usersAdded.length > 0) parts.push(`${c.usersAdded.length} user(s) added`)
  if (c.passwordsChanged.length > 0) parts.push(`${c.passwordsChanged.length} password(s) changed`)
  if (c.usersRemoved.length > 0) parts.push(`${c.usersRemoved.length} user(s) removed`)
  if (c.scramSet.length > 0) parts.push(`${c.scramSet.length} SCRAM verifier(s) set`)
  if (c.scramRemoved.length > 0) parts.push(`${c.scramRemoved.length} SCRAM verifier(s) removed`)
  if (c.acl !== "unchanged") parts.push(`ACL ${c.acl}`)
  if (c.kicked > 0) parts.push(`${c.kicked} connection(s) closed`)
  if (c.subscriptionsRemoved > 0) parts.push(`${c.subscriptionsRemoved} subscription(s) no longer granted removed`)
  return parts.length === 0 ? "unchanged" : parts.join(", ")
}

export const make = Effect.gen(function*() {
  const config = (yield* BrokerConfig).auth
  const runtime = yield* Effect.runtime<never>()
  const clustered = Option.isSome(yield* Effect.serviceOption(StreamFeed))
  const state = emptyAuthState()
  const source: { generation: number; rules: AclSource["rules"] } = { generation: 0, rules: null }
  const live = new Map<string, Set<Kickable>>()
  const aclHolders = new Set<AclHolder>()
  const verified = new VerifiedCache()

  const kick = (username: string): number => {
    const conns = live.get(username)
    if (conns === undefined) return 0
    live.delete(username)
    for (const conn of conns) conn.close(ReasonCode.AdministrativeAction)
    return conns.size
  }

  /** What this node's sync changed (`local`), and what other nodes' appends changed since the last log line (`remote`). */
  let local = noChanges()
  let remote = noChanges()
  const stream = yield* ControlStream.make<AuthEvent>({
    stream: ACL_STREAM,
    encode: encodeEvent,
    decode: decodeEvent,
    apply: (e, origin) => {
      if (origin === "replay") return void evolve(state, e)
      const changes = origin === "local" ? local : remote
      // A verifier that replaces another is a credential change; a first one is not.
      const replaced = e._tag === "ScramCredentialSet" && state.scram.get(e.mechanism)!.has(e.username)
      evolve(state, e)
      switch (e._tag) {
        case "ScramCredentialSet":
          changes.scramSet.push(`${e.username} (${e.mechanism})`)
          if (replaced) changes.kicked += kick(e.username)
          break
        case "ScramCredentialRemoved":
          changes.scramRemoved.push(`${e.username} (${e.mechanism})`)
          changes.kicked += kick(e.username)
          break
        case "UserAdded":
          changes.usersAdded.push(e.username)
          break
        case "UserPasswordChanged":
          changes.passwordsChanged.push(e.username)
          changes.kicked += kick(e.username)
          break
        case "UserRemoved":
          changes.usersRemoved.push(e.username)
          changes.kicked += kick(e.username)
          break
        case "AclReplaced":
        case "AclCleared":
          changes.acl = e._tag === "AclReplaced" ? "replaced" : "cleared"
          break
      }
    },
    afterBatch: (origin) => {
      if (source.rules !== state.acl) {
        source.rules = state.acl
        source.generation++
      }
      if (origin === "replay") return
      const changes = origin === "local" ? local : remote
      if (changes.passwordsChanged.length > 0 || changes.usersRemoved.length > 0) verified.clear()
      // After every event is applied (kicked connections are gone), so each holder sees the final rules.
      if (changes.acl !== "unchanged") {
        for (const holder of [...aclHolders]) changes.subscriptionsRemoved += holder.aclChanged()
      }
      if (origin === "remote") {
        Runtime.runFork(runtime)(Effect.log(`auth: changed on another node: ${describeChanges(changes)}`))
        remote = noChanges()
      }
    }
  })
  const permit = yield* Effect.makeSemaphore(1)

  const sync = permit.withPermits(1)(
    Effect.gen(function*() {
      const declared = yield* readDeclared(config)
      for (const stale of boundScram(declared).stale) {
        yield* Effect.logWarning(
          stale.reason === "no-user"
            ? `auth: SCRAM verifiers of "${stale.username}" ignored: the user is not in the password file`
            : `auth: SCRAM verifiers of "${stale.username}" ignored: its password was changed by another tool; run \`robustmq passwd ${config.passwordFile} ${stale.username}\` to use SCRAM again`
        )
      }
      local = noChanges()
      // In a cluster, a file this node does not configure leaves what other nodes declared alone.
      yield* stream.change(Effect.sync(() => ({ events: decideSync(state, declared, clustered), result: undefined })))
      return local as AuthChanges
    })
  )

  const booted = yield* sync
  yield* Effect.log(`auth: ${state.users.size} user(s), ${state.acl === null ? "no ACL" : `${state.acl.length} ACL rule(s)`}; at boot: ${describeChanges(booted)}`)
  const jwt = jwtConfigured(config.jwt) ? yield* JwtVerifier.make(config.jwt) : null
  if (jwt !== null) yield* Effect.log(`auth: JWT passwords verified with the ${jwt.describe()}`)

  const reload = Effect.tap(sync, (changes) => Effect.log(`auth reloaded: ${describeChanges(changes)}`))
  const reloadJwt: Effect.Effect<string | null, AuthFileError> =
    jwt === null ? Effect.succeed(null) : Effect.tap(jwt.reload, (loaded) => Effect.log(`auth: JWT keys reloaded: ${loaded}`))
  // SIGHUP re-reads the files, as it does for Mosquitto; a bad file keeps the current state.
  const onHangup = () => {
    Runtime.runFork(runtime)(
      reload.pipe(Effect.catchAll((e) => Effect.logError(`auth reload failed, keeping the previous users and ACL: ${e.message}`)))
    )
    if (jwt !== null) {
      Runtime.runFork(runtime)(
        reloadJwt.pipe(Effect.catchAll((e) => Effect.logError(`auth: JWT key reload failed, keeping the previous keys: ${e.message}`)))
      )
    }
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => process.on("SIGHUP", onHangup)),
    () => Effect.sync(() => process.off("SIGHUP", onHangup))
  )

  const logRefusal = (line: string) => Runtime.runFork(runtime)(Effect.logDebug(line))

  /** A JWT password: the token decides, whatever the password file says (it is never logged). */
  const authenticateJwt = (verifier: JwtVerifier.JwtVerifier, token: string, username: string | undefined, done: (reason: number, identity?: Identity) => void) => {
    void verifier.verify(token).then((verdict) => {
      if (!verdict.ok) {
        logRefusal(`auth: JWT refused${username === undefined ? "" : ` for user ${username}`}: ${verdict.reason}`)
        return done(verdict.code)
      }
      // The CONNECT user name, when sent, must be the token's: a token is no licence to act as someone else.
      if (username !== undefined && username !== verdict.username) {
        logRefusal(`auth: JWT refused: the CONNECT user name ${username} is not the token's (auth.jwt.username_claim)`)
        return done(ReasonCode.BadUserNameOrPassword)
      }
      done(ReasonCode.Success, { username: verdict.username, acl: verdict.acl })
    })
  }

  const unsafeAuthenticate: AuthService["unsafeAuthenticate"] = (username, password, done, acceptJwt = false) => {
    if (acceptJwt && jwt !== null && password !== undefined) {
      const token = jwtOf(password)
      if (token !== null) {
        authenticateJwt(jwt, token, username, done)
        return -1
      }
    }
    const users = state.users
    // No users and anonymous clients allowed: everyone is accepted, credentials ignored.
    if (users.size === 0 && config.allowAnonymous) return ReasonCode.Success
    if (username === undefined) return config.allowAnonymous ? ReasonCode.Success : ReasonCode.NotAuthorized
    const stored = users.get(username)
    if (stored === undefined || password === undefined) return ReasonCode.BadUserNameOrPassword
    const key = verified.key(username, password, stored)
    if (verified.has(key)) return ReasonCode.Success
    const hash = parsePasswordHash(stored)
    if (typeof hash === "string") return ReasonCode.BadUserNameOrPassword
    if (hash.kind === "sha512") {
      if (!verifySha512(hash, password)) return ReasonCode.BadUserNameOrPassword
      verified.add(key)
      return ReasonCode.Success
    }
    verifyPbkdf2(hash, password, (ok) => {
      // The user may have been removed or changed while we hashed.
      const current = users.get(username) === stored
      if (ok && current) verified.add(key)
      done(ok && current ? ReasonCode.Success : ReasonCode.BadUserNameOrPassword)
    })
    return -1
  }

  /** Decoded once per verifier event (the read model keeps base64). */
  const verifiers = new WeakMap<ScramCredentialSet, ScramVerifier>()
  const unsafeScramVerifier: AuthService["unsafeScramVerifier"] = (mechanism, username) => {
    const set = state.scram.get(mechanism)!.get(username)
    if (set === undefined) return state.users.has(username) ? "no-scram" : "unknown"
    let verifier = verifiers.get(set)
    if (verifier === undefined) {
      verifier = { iterations: set.iterations, salt: Buffer.from(set.salt, "base64"), storedKey: Buffer.from(set.storedKey, "base64"), serverKey: Buffer.from(set.serverKey, "base64") }
      verifiers.set(set, verifier)
    }
    return verifier
  }

  const debug = yield* makeDebugLog
  /** The decision with its reason in words: the user name and why, never the password. */
  const decisionLine = (username: string | undefined, password: Uint8Array | undefined, reason: number): string => {
    const who = username === undefined ? "anonymous client" : `user ${JSON.stringify(username)}`
    if (reason === ReasonCode.Success) return `auth: ${who} accepted`
    const why = username === undefined
      ? "no user name, and auth.allow_anonymous = false"
      : !state.users.has(username)
      ? "no such user"
      : password === undefined
      ? "no password sent"
      : "wrong password"
    return `auth: ${who} refused: ${why}`
  }
  const authenticate: AuthService["unsafeAuthenticate"] = debug === null ? unsafeAuthenticate : (username, password, done, jwt) => {
    const now = unsafeAuthenticate(username, password, (reason, identity) => {
      debug(decisionLine(identity?.username ?? username, password, reason))
      done(reason, identity)
    }, jwt)
    if (now >= 0) debug(decisionLine(username, password, now))
    return now
  }

  // An ACL is in force: the file's, or in a cluster one another node declared.
  const aclConfigured = () => state.acl !== null
  const superusers = new Set(config.superusers)
  return Auth.of({
    // In a cluster users and rules may come from other nodes: every CONNECT asks.
    active: isActive(config) || clustered,
    unsafeAuthenticate: authenticate,
    unsafeScramVerifier,
    unsafeClientAcl: (username, clientId, verified = false, identity) => {
      if (identity !== undefined) {
        if (superusers.has(identity.username)) return null
        const claim = identity.acl === null ? null : compileAclClaim(identity.acl, identity.username, clientId)
        return aclConfigured() || claim !== null ? new ClientAcl(source, identity.username, clientId, claim) : null
      }
      const known = state.users.size === 0 && !verified ? null : (username ?? null)
      // auth.superusers bypass the ACL (as they bypass Kafka ACLs); only a verified name counts.
      return aclConfigured() && (known === null || !superusers.has(known)) ? new ClientAcl(source, known, clientId) : null
    },
    unsafeTrack: (username, conn) => {
      let conns = live.get(username)
      if (conns === undefined) live.set(username, (conns = new Set()))
      conns.add(conn)
    },
    unsafeUntrack: (username, conn) => {
      const conns = live.get(username)
      if (conns === undefined || !conns.delete(conn)) return
      if (conns.size === 0) live.delete(username)
    },
    unsafeWatchAcl: (holder) => {
      aclHolders.add(holder)
    },
    unsafeUnwatchAcl: (holder) => {
      aclHolders.delete(holder)
    },
    reload,
    reloadJwt,
    state,
    cachedCredentials: () => verified.size
  })
})

export const layer: Layer.Layer<Auth, AuthFileError | StorageError | VersionConflict, EventStore | BrokerConfig> =
  Layer.scoped(Auth, make)
