/**
 * Coordination in one process, for tests and a single node: the same contract as etcd's layer
 * (revisions, leases, compare-guarded claims), held in memory. `expire` stands in for a lease
 * that was not renewed in time.
 */
import { Deferred, Effect, Layer, PubSub, Stream } from "effect"
import { Coordination, type MemberChange, type MemberInfo, type Ownership, OwnershipConflict } from "../../services/Coordination.js"

export interface MemoryCoordination {
  /** Test hook: the member's lease lapses now (its `lost` completes, watchers see it leave). */
  readonly expire: (id: string) => Effect.Effect<void>
}

export const make = Effect.gen(function*() {
  let revision = 0
  const members = new Map<string, { readonly info: MemberInfo; readonly lost: Deferred.Deferred<void> }>()
  const owners = new Map<string, Ownership>()
  const history: Array<MemberChange> = []
  const changes = yield* PubSub.unbounded<MemberChange>()
  const publish = (change: MemberChange) => Effect.zipRight(Effect.sync(() => history.push(change)), PubSub.publish(changes, change))
  const leave = (id: string) =>
    Effect.suspend(() => {
      const member = members.get(id)
      if (member === undefined) return Effect.void
      members.delete(id)
      return Effect.zipRight(Deferred.succeed(member.lost, undefined), publish({ _tag: "Left", id, revision: ++revision }))
    })
  const service = Coordination.of({
    join: (info) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const lost = yield* Deferred.make<void>()
          members.set(info.id, { info, lost })
          yield* publish({ _tag: "Joined", member: info, revision: ++revision })
          return { lost: Deferred.await(lost) }
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
          owners.set(key, next)
          revision++
          return Effect.succeed(next)
        }
        if (current !== null && current.owner === owner && current.epoch === expected + 1) return Effect.succeed(current)
        return Effect.fail(new OwnershipConflict({ key, current }))
      }),
    ownerOf: (key) => Effect.sync(() => owners.get(key) ?? null)
  })
  const hooks: MemoryCoordination = { expire: leave }
  return { service, hooks }
})

export const layer: Layer.Layer<Coordination> = Layer.effect(Coordination, Effect.map(make, ({ service }) => service))
