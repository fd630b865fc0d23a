/**
 * What the cluster keeps of each persistent session in etcd besides who holds it: its
 * subscriptions and expiry, `subs/<clientId>` = `{expiry, subs: [[filter, options], ...]}`,
 * written by the holder only (guarded by its ownership of `sessions/<clientId>`). It is what lets
 * a session resume on another node when the node that held it is dead. A session that ends
 * releases both keys. Writes are coalesced per session (the latest state wins) and made off the
 * CONNECT/SUBSCRIBE path: a SUBACK does not wait for them. A session that is not persistent
 * writes no `subs/` at all while this node knows the key is absent (`absent`): a clean
 * CONNECT + SUBSCRIBE + DISCONNECT then costs etcd the claim and the release only.
 */
import { Deferred, Effect, Runtime } from "effect"
import type { SessionEvent } from "../../domain/session/events.js"
import type { SubscriptionOptions } from "../../domain/session/Session.js"
import type { CoordinationService, Ownership } from "../../services/Coordination.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import type { MovedSession } from "../mqtt/engine/handOver.js"
import type { LiveSession } from "../mqtt/engine/LiveSession.js"

export const subsKey = (clientId: string): string => `subs/${clientId}`
export const ownershipKey = (clientId: string): string => `sessions/${clientId}`

interface Stored {
  readonly expiry: number
  readonly subs: ReadonlyArray<readonly [string, SubscriptionOptions]>
}

/** What to write for a session: its subscriptions, nothing (not persistent), or the end of it. */
type Pending = { readonly _tag: "Put"; readonly value: Stored } | { readonly _tag: "Clear" } | { readonly _tag: "Release" }

export class SessionDirectory {
  /** Sessions this node claimed, at the epoch it holds them. */
  readonly owned = new Map<string, Ownership>()
  /**
   * Sessions whose `subs/` key this node knows is absent: claimed from no one (a release deletes
   * both keys in one txn), or cleared by this node since. Not known: a session taken from
   * another node, or restored from storage: its first clear is written.
   */
  private readonly absent = new Set<string>()
  private pending = new Map<string, Pending>()
  /** Releases being written now: a CONNECT of the same id here claims after them. */
  private readonly releasing = new Map<string, Deferred.Deferred<void>>()
  private writing = false

  constructor(
    private readonly self: string,
    private readonly coordination: CoordinationService,
    private readonly engine: Engine,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  /** A session's stored events: note what etcd should now say about it. */
  changed(session: LiveSession, events: ReadonlyArray<SessionEvent>): void {
    let relevant = false
    let moved = false
    for (const e of events) {
      if (e._tag === "SessionEnded") moved = e.reason === "moved"
      else moved = false
      if (e._tag !== "SessionCheckpointed" && e._tag !== "WillSet" && e._tag !== "WillCleared" && e._tag !== "SessionDisconnected") relevant = true
    }
    if (!relevant) return
    const clientId = session.clientId
    if (this.engine.sessions.get(clientId) !== session) {
      // Ended here. Moved: its new holder writes from now on.
      if (moved) this.forget(clientId)
      else this.note(clientId, { _tag: "Release" })
    } else if (session.persistent) {
      this.absent.delete(clientId)
      this.note(clientId, { _tag: "Put", value: { expiry: session.state.expiryInterval, subs: [...session.state.subscriptions] } })
    } else if (!this.absent.has(clientId) || this.pending.has(clientId)) {
      // A clean session (v5 forbids a DISCONNECT to make it persistent): its subscriptions are
      // never stored. Cleared once, in case a persistent session before it left a record.
      this.note(clientId, { _tag: "Clear" })
    }
  }

  /** This node claimed `clientId` from no one: etcd holds no `subs/` for it. */
  claimedFresh(clientId: string): void {
    if (!this.pending.has(clientId)) this.absent.add(clientId)
  }

  /**
   * A CONNECT found `clientId` still owned by this node: true if it may keep that ownership (a
   * release not yet written is dropped), false if a release is being written (await `released`).
   */
  keepOwnership(clientId: string): boolean {
    if (this.pending.get(clientId)?._tag === "Release") this.pending.delete(clientId)
    return !this.releasing.has(clientId)
  }

  /** Once the release of `clientId` being written now, if any, is done. */
  released(clientId: string): Effect.Effect<void> {
    const done = this.releasing.get(clientId)
    return done === undefined ? Effect.void : Deferred.await(done)
  }

  /** This node no longer holds `clientId`'s session. */
  forget(clientId: string): void {
    this.owned.delete(clientId)
    this.absent.delete(clientId)
  }

  private note(clientId: string, p: Pending): void {
    this.pending.set(clientId, p)
    if (!this.writing) {
      this.writing = true
      Runtime.runFork(this.runtime)(this.writeAll)
    }
  }

  private readonly writeAll: Effect.Effect<void> = Effect.gen(this, function*() {
    yield* Effect.yieldNow()
    while (this.pending.size > 0) {
      const batch = this.pending
      this.pending = new Map()
      yield* Effect.forEach(batch, ([clientId, p]) => this.write(clientId, p), { concurrency: 16, discard: true })
    }
    this.writing = false
  })

  private write(clientId: string, p: Pending): Effect.Effect<void> {
    if (p._tag !== "Release") return this.attempt(clientId, p)
    return Effect.gen(this, function*() {
      const done = yield* Deferred.make<void>()
      this.releasing.set(clientId, done)
      yield* this.attempt(clientId, p).pipe(Effect.ensuring(Effect.suspend(() => {
        this.releasing.delete(clientId)
        return Deferred.succeed(done, undefined)
      })))
    })
  }

  private attempt(clientId: string, p: Pending): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      let ownership = this.owned.get(clientId)
      if (ownership === undefined) {
        // A session restored from this node's storage: written if etcd still says it is ours.
        const now = yield* this.coordination.ownerOf(ownershipKey(clientId))
        if (now === null || now.owner !== this.self) return
        ownership = now
        this.owned.set(clientId, now)
      }
      const key = subsKey(clientId)
      const ok = yield* this.coordination.writeIfOwned(
        ownershipKey(clientId),
        ownership,
        [{ key, value: p._tag === "Put" ? JSON.stringify(p.value) : null }],
        p._tag === "Release"
      )
      if (!ok || p._tag === "Release") this.forget(clientId)
      else if (p._tag === "Clear" && !this.pending.has(clientId)) this.absent.add(clientId)
    }).pipe(Effect.catchAll((e) =>
      Effect.suspend(() => {
        // etcd did not answer: write it again later, unless something newer is pending.
        if (!this.pending.has(clientId)) this.pending.set(clientId, p)
        return Effect.zipRight(Effect.logWarning(`cluster: recording session ${clientId} in etcd failed (${e.message}); retrying`), Effect.sleep("1 second"))
      })
    ))
  }

  /** What etcd keeps of a session whose holder is dead: its subscriptions, nothing it owed. */
  stored(clientId: string): Effect.Effect<MovedSession | null> {
    return this.coordination.get(subsKey(clientId)).pipe(
      Effect.map((text) => {
        if (text === null) return null
        const s = JSON.parse(text) as Stored
        return { clientId, expiryInterval: s.expiry, subscriptions: s.subs, owed: [], qos2Inbound: [] }
      }),
      Effect.catchAll((e) => Effect.as(Effect.logWarning(`cluster: reading session ${clientId} from etcd failed (${e.message}): it starts empty`), null))
    )
  }
}
