/**
 * Coordination between broker nodes (issue 11): membership with leases, ownership with fencing
 * epochs, and membership watches resumed by revision. Every call has a deadline; every write is
 * compare-guarded and safe to retry, because a client can report a committed write as failed
 * (../shared/CLUSTER.md): a claim that finds its own write already there succeeds.
 * Layers: layers/coordination/memory.ts (tests, one process), layers/coordination/etcd.ts.
 */
import { Context, Data, type Effect, type Scope, type Stream } from "effect"

export interface MemberInfo {
  readonly id: string
  /** Where other nodes reach it (host:port of its node link, or anything the caller puts there). */
  readonly address: string
  /** Anything else the others should know (listener ports, pid, incarnation); kept as JSON. */
  readonly attributes?: Readonly<Record<string, string | number>>
}

/** A key and its value, relative to the cluster's root. */
export interface Entry {
  readonly key: string
  readonly value: string
}

/** A change under a watched prefix, at the revision that made it. */
export type KeyChange =
  | { readonly _tag: "Put"; readonly key: string; readonly value: string; readonly revision: number }
  | { readonly _tag: "Delete"; readonly key: string; readonly revision: number }

/** One write of a batch: a value, or null to delete the key. */
export interface KeyWrite {
  readonly key: string
  readonly value: string | null
}

/** Who owns a key, and the fencing epoch of that ownership: every change of owner raises it. */
export interface Ownership {
  readonly owner: string
  readonly epoch: number
}

export interface Membership {
  /** Completes when the lease is lost (not renewed in time): the node must stop serving what it owns. */
  readonly lost: Effect.Effect<void>
  /**
   * Writes keys on this member's lease, all or none, only while it is a member: they vanish when
   * it leaves or its lease lapses (route summaries). Puts and deletes are idempotent: on a
   * CoordinationError the batch can be sent again as it is.
   */
  readonly write: (batch: ReadonlyArray<KeyWrite>) => Effect.Effect<void, CoordinationError>
}

export type MemberChange =
  | { readonly _tag: "Joined"; readonly member: MemberInfo; readonly revision: number }
  | { readonly _tag: "Left"; readonly id: string; readonly revision: number }

/** The coordination service did not answer in time, or answered with an error: the outcome is unknown; retry. */
export class CoordinationError extends Data.TaggedError("CoordinationError")<{ readonly op: string; readonly cause: unknown }> {
  override get message(): string {
    return `coordination ${this.op} failed (${this.cause instanceof Error ? this.cause.message : String(this.cause)}): is etcd reachable? the outcome is unknown, retry`
  }
}

/** A stream's head is not at the version an append expected: another node appended first. */
export class StreamVersionConflict extends Data.TaggedError("StreamVersionConflict")<{
  readonly stream: string
  readonly expected: number
  readonly actual: number
}> {}

/** Where a cluster-wide event stream keeps its entries: `streams/<stream>/<version, 12 digits>`, in version order. */
/** Where ownerships show in list and watch (`owners/<key>` = `{owner, epoch}` as JSON), on every layer. */
export const OWNERS_PREFIX = "owners/"

/** Keys per `ownersOf` read: etcd refuses a txn of more operations than its --max-txn-ops, 128 by default. */
export const OWNERS_BATCH = 128

/** An ownership as list and watch show it; null for none. */
export const parseOwnership = (text: string | null | undefined): Ownership | null => {
  if (text === null || text === undefined) return null
  const o = JSON.parse(text) as Ownership
  return { owner: o.owner, epoch: o.epoch }
}

export const streamPrefix = (stream: string): string => `streams/${stream}/`
export const streamEntryKey = (stream: string, version: number): string => `${streamPrefix(stream)}${String(version).padStart(12, "0")}`
/** The stream and version an entry key names, or null for another key. */
export const parseStreamEntryKey = (key: string): { readonly stream: string; readonly version: number } | null => {
  const m = /^streams\/(.+)\/(\d{12})$/.exec(key)
  return m === null ? null : { stream: m[1]!, version: Number(m[2]) }
}
/** The key holding a stream's version (the compare of every append). */
export const streamHeadKey = (stream: string): string => `heads/${stream}`

/** A claim's expected epoch is not the current one: someone else owns it now. */
export class OwnershipConflict extends Data.TaggedError("OwnershipConflict")<{ readonly key: string; readonly current: Ownership | null }> {}

export interface CoordinationService {
  /** Joins with a lease of `ttlSeconds`, renewed until the scope closes (then revoked: a clean leave). */
  readonly join: (member: MemberInfo, ttlSeconds: number) => Effect.Effect<Membership, CoordinationError, Scope.Scope>
  /** The members now, and the revision to watch from. */
  readonly members: Effect.Effect<{ readonly members: ReadonlyArray<MemberInfo>; readonly revision: number }, CoordinationError>
  /** Joins and leaves after `revision`, in order, none lost or repeated across reconnects. */
  readonly watchMembers: (revision: number) => Stream.Stream<MemberChange, CoordinationError>
  /**
   * Takes `key` for `owner` if its epoch is `expected` (0: nobody owns it), raising the epoch.
   * Idempotent: if `owner` already holds it at `expected + 1` (an earlier try committed), that is returned.
   */
  readonly claim: (key: string, owner: string, expected: number) => Effect.Effect<Ownership, OwnershipConflict | CoordinationError>
  readonly ownerOf: (key: string) => Effect.Effect<Ownership | null, CoordinationError>
  /**
   * `ownerOf` for many keys: each key of `keys` -> its ownership, or null when nobody owns it.
   * Costs what `keys` costs, however many other keys are owned (etcd: txns of at most
   * OWNERS_BATCH reads, a few in flight, each with its own deadline): a node asks about its own
   * keys, not the cluster's. Each batch is read at one revision; the batches may differ.
   */
  readonly ownersOf: (keys: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, Ownership | null>, CoordinationError>
  // Ownerships also show in list and watch as `owners/<key>` with the JSON `{"owner","epoch"}`,
  // so many of them can be followed at once (Kafka partition leaders, group slots).
  /**
   * Writes `batch` (keys that outlive members) only while `key` is owned as `ownership` says, all
   * or none; with `release` the ownership itself goes too. False when it is owned otherwise now.
   * Idempotent: on a CoordinationError the same call can be made again.
   */
  readonly writeIfOwned: (
    key: string,
    ownership: Ownership,
    batch: ReadonlyArray<KeyWrite>,
    release?: boolean
  ) => Effect.Effect<boolean, CoordinationError>
  /**
   * Appends `values` to `stream` (keys `streamEntryKey(stream, expected + 1..)`, on no lease) if
   * its head (`streamHeadKey`) is at version `expected` (0: the stream does not exist yet), all
   * or none; returns the new version. Each value must be unique (carry an append id): then the
   * call is idempotent, since an append whose guard fails but whose first entry is already this
   * one committed earlier (a write reported failed that was not) succeeds. On a
   * CoordinationError the same call can be made again.
   */
  readonly appendIfVersion: (
    stream: string,
    expected: number,
    values: ReadonlyArray<string>
  ) => Effect.Effect<number, StreamVersionConflict | CoordinationError>
  /** One key's value, or null. */
  readonly get: (key: string) => Effect.Effect<string | null, CoordinationError>
  /** Every key under `prefix` as of one revision, however many (etcd reads pages), and that revision to watch from. */
  readonly list: (prefix: string) => Effect.Effect<{ readonly entries: ReadonlyArray<Entry>; readonly revision: number }, CoordinationError>
  /**
   * Puts and deletes under `prefix` after `revision`, in order, none lost or repeated across
   * reconnects. A revision the layer no longer keeps (etcd compacted it) fails the stream: list again.
   */
  readonly watch: (prefix: string, revision: number) => Stream.Stream<KeyChange, CoordinationError>
}

export class Coordination extends Context.Tag("broker/Coordination")<Coordination, CoordinationService>() {}
