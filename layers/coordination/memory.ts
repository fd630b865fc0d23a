/**
 * Coordination in one process, for tests and a single node: the same contract as etcd's layer
 * (revisions, leases, compare-guarded claims), held in memory. `expire` stands in for a lease
 * that was not renewed in time.
 */
import { Deferred, Effect, Layer, PubSub, Stream } from "effect"
import {
  Coordination,
  CoordinationError,
  type KeyChange,
  type MemberChange,
  type MemberInfo,
  type Ownership,
  OWNERS_PREFIX,
  OwnershipConflict,
  streamEntryKey,
  streamHeadKey,
  StreamVersionConflict
} from "../../services/Coordination.js"

export interface MemoryCoordination {
  /** Test hook: the member's lease lapses now (its `lost` completes, watchers see it leave). */
  readonly expire: (id: string) => Effect.Effect<void>
}


/**
 * Where the keys that outlive members (ownerships, and what `writeIfOwned` and `appendIfVersion`
 * write) are kept across restarts: the primary of `--workers N` keeps a file
 * (src/cluster/workers/coordinationJournal.ts); tests keep nothing. `record` runs before a
 * call answers, so what a call acknowledged was recorded.
 */
export interface DurableJournal {
  readonly load: () => { readonly durable: ReadonlyArray<readonly [string, string]>; readonly owners: ReadonlyArray<readonly [string, Ownership]> }
  readonly record: (changes: ReadonlyArray<{ readonly durable?: string; readonly owner?: string; readonly value: string | Ownership | null }>) => void
}

export interface MemoryOptions {
  readonly journal?: DurableJournal
  /** Key changes kept for watches that resume from a revision; an older revision is refused (as etcd's compaction), and the watcher lists again. */
  readonly maxHistory?: number
}

export const make = makeWith({})

export function makeWith(options: MemoryOptions) {
  return Effect.gen(function*() {
    const journal = options.journal
    const maxHistory = options.maxHistory ?? Number.POSITIVE_INFINITY
    let revision = 0
    const members = new Map<string, { readonly info: MemberInfo; readonly lost: Deferred.Deferred<void> }>()
    const owners = new Map<string, Ownership>()
    const history: Array<MemberChange> = []
    const changes = yield* PubSub.unbounded<MemberChange>()
    const publish = (change: MemberChange) => Effect.zipRight(Effect.sync(() => history.push(change)), PubSub.publish(changes, change))
    /** Leased keys: value and the member whose lease holds it. */
    const keys = new Map<string, { readonly value: string; readonly holder: string }>()
    /** Keys on no lease (writeIfOwned). */
    const durable = new Map<string, string>()
    const keyHistory: Array<KeyChange> = []
    /** Revisions at or below this are no longer in keyHistory. */
    let compacted = 0
    const keyChanges = yield* PubSub.unbounded<KeyChange>()
    const unpublished: Array<KeyChange> = []
    const change = (c: KeyChange) => {
      keyHistory.push(c)
      if (keyHistory.length > maxHistory) compacted = keyHistory.splice(0, keyHistory.length - maxHistory).at(-1)!.revision
      unpublished.push(c)
    }
    if (journal !== undefined) {
      const loaded = journal.load()
      for (const [key, value] of loaded.durable) durable.set(key, value)
      for (const [key, o] of loaded.owners) owners.set(key, o)
    }
    const recordOwner = (key: string, value: Ownership | null) => journal?.record([{ owner: key, value }])
    const publishKeys = Effect.suspend(() => PubSub.publishAll(keyChanges, unpublished.splice(0)))
    const leave = (id: string) =>
      Effect.suspend(() => {
        const member = members.get(id)
        if (member === undefined) return Effect.void
        members.delete(id)
        for (const [key, entry] of keys) {
          if (entry.holder !== id) continue
          keys.delete(key)
          change({ _tag: "Delete", key, revision: ++revision })
        }
        return Effect.zipRight(
          Effect.zipRight(publishKeys, Deferred.succeed(member.lost, undefined)),
          publish({ _tag: "Left", id, revision: ++revision })
        )
      })
    const service = Coordination.of({
      join: (info) =>
        Effect.acquireRelease(
          Effect.gen(function*() {
            const lost = yield* Deferred.make<void>()
            members.set(info.id, { info, lost })
            yield* publish({ _tag: "Joined", member: info, revision: ++revision })
            const write = (batch: ReadonlyArray<{ readonly key: string; readonly value: string | null }>) =>
              Effect.suspend(() => {
                if (members.get(info.id)?.lost !== lost) return Effect.fail(new CoordinationError({ op: "write", cause: new Error("lease lost") }))
                revision++
                for (const w of batch) {
                  if (w.value === null) {
                    if (keys.delete(w.key)) change({ _tag: "Delete", key: w.key, revision })
                  } else {
                    keys.set(w.key, { value: w.value, holder: info.id })
                    change({ _tag: "Put", key: w.key, value: w.value, revision })
                  }
                }
                return Effect.asVoid(publishKeys)
              })
            return { lost: Deferred.await(lost), write }
          }),
          () => leave(info.id)
        ),
      members: Effect.sync(() => ({ members: [...members.values()].map((m) => m.info), revision })),
      watchMembers: (from) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const live = yield* PubSub.subscribe(changes)
          const past = history.filter((c) => c.revision > from)
          const last = past.length === 0 ? from : past[past.length - 1]!.revision
          return Stream.concat(Stream.fromIterable(past), Stream.fromQueue(live).pipe(Stream.filter((c) => c.revision > last)))
        })),
      claim: (key, owner, expected) =>
        Effect.suspend(() => {
          const current = owners.get(key) ?? null
          const epoch = current?.epoch ?? 0
          if (epoch === expected) {
            const next = { owner, epoch: expected + 1 }
            recordOwner(key, next)
            owners.set(key, next)
            change({ _tag: "Put", key: OWNERS_PREFIX + key, value: JSON.stringify(next), revision: ++revision })
            return Effect.as(publishKeys, next)
          }
          if (current !== null && current.owner === owner && current.epoch === expected + 1) return Effect.succeed(current)
          return Effect.fail(new OwnershipConflict({ key, current }))
        }),
      ownerOf: (key) => Effect.sync(() => owners.get(key) ?? null),
      ownersOf: (keys) => Effect.sync(() => new Map(keys.map((key) => [key, owners.get(key) ?? null] as const))),
      writeIfOwned: (key, ownership, batch, release = false) =>
        Effect.suspend(() => {
          const current = owners.get(key)
          if (current === undefined || current.owner !== ownership.owner || current.epoch !== ownership.epoch) return Effect.succeed(false)
          revision++
          journal?.record([...batch.map((w) => ({ durable: w.key, value: w.value })), ...(release ? [{ owner: key, value: null }] : [])])
          for (const w of batch) {
            if (w.value === null) {
              if (durable.delete(w.key)) change({ _tag: "Delete", key: w.key, revision })
            } else {
              durable.set(w.key, w.value)
              change({ _tag: "Put", key: w.key, value: w.value, revision })
            }
          }
          if (release && owners.delete(key)) change({ _tag: "Delete", key: OWNERS_PREFIX + key, revision })
          return Effect.as(publishKeys, true)
        }),
      appendIfVersion: (stream, expected, values) =>
        Effect.suspend(() => {
          const head = streamHeadKey(stream)
          const now = Number(durable.get(head) ?? 0)
          const next = expected + values.length
          if (now !== expected) {
            if (values.length > 0 && durable.get(streamEntryKey(stream, expected + 1)) === values[0]) return Effect.succeed(next)
            return Effect.fail(new StreamVersionConflict({ stream, expected, actual: now }))
          }
          if (values.length === 0) return Effect.succeed(now)
          revision++
          journal?.record([...values.map((value, i) => ({ durable: streamEntryKey(stream, expected + 1 + i), value })), { durable: head, value: String(next) }])
          values.forEach((value, i) => {
            const key = streamEntryKey(stream, expected + 1 + i)
            durable.set(key, value)
            change({ _tag: "Put", key, value, revision })
          })
          durable.set(head, String(next))
          change({ _tag: "Put", key: head, value: String(next), revision })
          return Effect.as(publishKeys, next)
        }),
      get: (key) => Effect.sync(() => durable.get(key) ?? keys.get(key)?.value ?? null),
      list: (prefix) =>
        Effect.sync(() => ({
          entries: [
            ...[...keys].filter(([key]) => key.startsWith(prefix)).map(([key, e]) => ({ key, value: e.value })),
            ...[...durable].filter(([key]) => key.startsWith(prefix)).map(([key, value]) => ({ key, value })),
            ...[...owners].filter(([key]) => (OWNERS_PREFIX + key).startsWith(prefix)).map(([key, o]) => ({ key: OWNERS_PREFIX + key, value: JSON.stringify(o) }))
          ].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), // etcd's range order
          revision
        })),
      watch: (prefix, from) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          if (from < compacted) return Stream.fail(new CoordinationError({ op: "watch", cause: new Error(`revision ${from} compacted (history starts after ${compacted}): list again`) }))
          const live = yield* PubSub.subscribe(keyChanges)
          const past = keyHistory.filter((c) => c.revision > from && c.key.startsWith(prefix))
          const last = revision
          return Stream.concat(
            Stream.fromIterable(past),
            Stream.fromQueue(live).pipe(Stream.filter((c) => c.revision > last && c.key.startsWith(prefix)))
          )
        }))
    })
    const hooks: MemoryCoordination = { expire: leave }
    return { service, hooks }
  })
}

export const layer: Layer.Layer<Coordination> = Layer.effect(Coordination, Effect.map(make, ({ service }) => service))
