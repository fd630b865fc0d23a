/**
 * The etcd Coordination layer past one gRPC message (issue 11, scale): a listing of 60,000 keys
 * comes in pages read at one revision, a watch resumes from that revision, a watch whose
 * revision was compacted while it was cut off fails so its consumer lists again and loses
 * nothing, the member with the lowest id compacts etcd's history, and a restarting node reads
 * the owners of its own sessions at a cost that follows them, not the cluster's (ownersOf
 * against the listing it replaced). Real etcd throughout. ROBUSTMQ_SCALE_HEAVY=1 runs the
 * restart figures at docs/cluster.md's size (20k own sessions among 200k others).
 */
import { Deferred, Duration, Effect, Fiber, Logger, Stream } from "effect"
import { Etcd3 } from "etcd3"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as EtcdCoordination from "../../layers/coordination/etcd.js"
import { Coordination, type CoordinationService, type Entry, type KeyWrite, OWNERS_PREFIX, parseOwnership } from "../../services/Coordination.js"
import { RouteTable } from "../../src/cluster/RouteTable.js"
import { routesPrefix } from "../../src/cluster/RouteSummary.js"
import { ownershipKey } from "../../src/cluster/SessionDirectory.js"
import { sessionOwners } from "../../src/cluster/SessionOwnership.js"
import { startTcpProxy } from "../support/tcpProxy.js"
import { type EtcdServer, hasEtcd, startEtcd } from "./etcdServer.js"
import { ipcPair } from "./ipcCoordinationPair.js"

const KEYS = 60_000
/** etcd's --max-txn-ops. */
const TXN_OPS = 128

const key = (i: number) => `big/k${String(i).padStart(6, "0")}`
/** ~100 bytes, different for every key. */
const value = (i: number) => `${i}:`.padEnd(100, "v")

const pollUntil = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/** Follows a prefix as RouteTable does: list, watch from the listing's revision, list again when the watch breaks. */
const follow = (coordination: CoordinationService, prefix: string) => {
  const view = new Map<string, string>()
  const breaks: Array<string> = []
  let listings = 0
  const once = Effect.gen(function*() {
    const { entries, revision } = yield* coordination.list(prefix)
    listings++
    view.clear()
    for (const e of entries) view.set(e.key, e.value)
    yield* Stream.runForEach(coordination.watch(prefix, revision), (c) =>
      Effect.sync(() => (c._tag === "Put" ? view.set(c.key, c.value) : view.delete(c.key))))
  })
  const run = Effect.forever(once.pipe(
    Effect.catchAll((e) => Effect.zipRight(Effect.sync(() => breaks.push(e.message)), Effect.sleep("200 millis")))
  ))
  return { view, breaks, listings: () => listings, run }
}

/** docs/cluster.md's restart case: this node's sessions, and the rest of the cluster's. */
const heavy = process.env.ROBUSTMQ_SCALE_HEAVY === "1"
const OWN_SESSIONS = heavy ? 20_000 : 1_000
const OTHER_SESSIONS = heavy ? 200_000 : 5_000
/** Of this node's restored sessions, every STALE_EVERY-th resumed on another node while it was down. */
const STALE_EVERY = 20
const ownId = (i: number) => `own-${String(i).padStart(6, "0")}`
const otherId = (i: number) => `dev-${String(i).padStart(7, "0")}`
const ownOwner = (i: number) => (i % STALE_EVERY === 0 ? "node-b" : "node-a")

/** What dropStale did before ownersOf: list every session owner key, keep those of its own sessions. */
const ownersByListing = (coordination: CoordinationService, clientIds: ReadonlyArray<string>) =>
  Effect.map(coordination.list(OWNERS_PREFIX + ownershipKey("")), ({ entries }) => {
    const prefix = OWNERS_PREFIX + ownershipKey("")
    const all = new Map(entries.map((e) => [e.key.slice(prefix.length), parseOwnership(e.value)!.owner]))
    return { listed: entries.length, owners: new Map(clientIds.flatMap((id) => (all.has(id) ? [[id, all.get(id)!] as const] : []))) }
  })

/**
 * Times the old way and the new one for this node's restored sessions (own-0..n-1), and checks
 * what each read. The listing may fail (over IPC a large one passes the call's deadline): then
 * its figure is the failure.
 */
const compareOwnerReads = (coordination: CoordinationService, n: number, where: string) =>
  Effect.gen(function*() {
    const clientIds = Array.from({ length: n }, (_, i) => ownId(i))
    const expected = new Map(clientIds.map((id, i) => [id, ownOwner(i)]))
    let began = Date.now()
    const before = yield* Effect.either(ownersByListing(coordination, clientIds))
    const listingMs = Date.now() - began
    began = Date.now()
    const after = yield* sessionOwners(coordination, clientIds)
    const ownersOfMs = Date.now() - began
    expect(after).toEqual(expected)
    if (before._tag === "Right") expect(before.right.owners).toEqual(expected)
    const listing = before._tag === "Right" ? `listing ${before.right.listed} keys ${listingMs} ms` : `listing FAILED after ${listingMs} ms (${before.left.message})`
    yield* Effect.log(`restart owner read (${where}), ${n} own sessions among ${OTHER_SESSIONS} others: ${listing}, ownersOf ${ownersOfMs} ms`)
    return { listingMs, ownersOfMs }
  })

const asMap = (entries: ReadonlyArray<Entry>) => new Map(entries.map((e) => [e.key, e.value]))

const etcdSuite = hasEtcd || process.env.CI === "true" ? describe : describe.skip
etcdSuite("etcd coordination at scale", () => {
  let etcd: EtcdServer
  /** A plain client that takes one large response: the unpaged reference read. */
  let raw: Etcd3
  beforeAll(async () => {
    etcd = await startEtcd()
    raw = new Etcd3({ hosts: [etcd.endpoint], grpcOptions: { "grpc.max_receive_message_length": 64 * 1024 * 1024 } })
  })
  afterAll(async () => {
    raw?.close()
    await etcd?.stop()
  })

  const coordinationAt = (endpoint: string, cluster: string, compactEveryMs = 0) =>
    EtcdCoordination.make({ endpoints: [endpoint], cluster, deadlineMs: 2000, compactEveryMs })

  it("lists 60,000 keys in pages at one revision, and a watch from that revision sees every later write", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = yield* coordinationAt(etcd.endpoint, "big")
      const writer = yield* coordination.join({ id: "writer", address: "w" }, 60)
      const writes: Array<KeyWrite> = Array.from({ length: KEYS }, (_, i) => ({ key: key(i), value: value(i) }))
      let written = 0
      const began = Date.now()
      yield* Effect.forEach(chunks(writes, TXN_OPS), (batch) =>
        Effect.flatMap(writer.write(batch), () =>
          Effect.suspend(() => {
            const before = written
            written += batch.length
            return Math.floor(written / 10_000) > Math.floor(before / 10_000)
              ? Effect.log(`wrote ${written} of ${KEYS} keys in ${Date.now() - began} ms`)
              : Effect.void
          })), { concurrency: 8, discard: true })

      const quietStart = Date.now()
      const quiet = yield* coordination.list("big/")
      const quietMs = Date.now() - quietStart
      yield* Effect.log(`listed ${quiet.entries.length} keys in ${quietMs} ms`)
      expect(quiet.entries.length).toBe(KEYS)
      expect(quiet.entries[0]).toEqual({ key: key(0), value: value(0) })
      expect(quiet.entries.at(-1)).toEqual({ key: key(KEYS - 1), value: value(KEYS - 1) })
      expect(quiet.entries.every((e, i) => e.key === key(i) && e.value === value(i))).toBe(true)

      // Writes land while the next listing pages through: it must still be one revision's state.
      const mutate = (j: number): ReadonlyArray<KeyWrite> => [
        { key: key(KEYS - 1 - j), value: `changed ${j}` }, // in the last pages, read after the first
        { key: key(j), value: null },
        { key: `big/zz${j}`, value: `added ${j}` }
      ]
      const mutations = 60
      const firstDone = yield* Deferred.make<void>()
      const mutator = yield* Effect.fork(Effect.forEach(Array.from({ length: mutations }, (_, j) => j), (j) =>
        Effect.zipRight(writer.write(mutate(j)), Effect.zipRight(Deferred.succeed(firstDone, undefined), Effect.sleep("20 millis"))), { discard: true }))
      yield* Deferred.await(firstDone)
      const busy = yield* coordination.list("big/")
      yield* Fiber.join(mutator)
      const reference = yield* Effect.promise(() => raw.getAll().prefix("/rmq/big/big/").revision(busy.revision).exec())
      expect(busy.entries).toEqual(reference.kvs.map((kv) => ({ key: kv.key.toString().slice("/rmq/big/".length), value: kv.value.toString() })))
      // Some mutations are in it, and not all: they went on while it paged.
      const seenMutations = busy.entries.filter((e) => e.key.startsWith("big/zz")).length
      expect(seenMutations).toBeGreaterThan(0)
      expect(seenMutations).toBeLessThan(mutations)

      // More writes after the listing; the watch from its revision brings the listing to the state now.
      yield* writer.write([{ key: key(500), value: null }, { key: "big/zz-after", value: "after" }]) // the put last: the watch stops at it
      const final = yield* coordination.list("big/")
      const view = asMap(busy.entries)
      yield* coordination.watch("big/", busy.revision).pipe(
        Stream.takeUntil((c) => c.key === "big/zz-after"),
        Stream.runForEach((c) => Effect.sync(() => (c._tag === "Put" ? view.set(c.key, c.value) : view.delete(c.key)))),
        Effect.timeout("10 seconds")
      )
      expect(view).toEqual(asMap(final.entries))
      expect(view.get("big/zz-after")).toBe("after")
      expect(view.get(key(KEYS - 1))).toBe("changed 0")
      expect(view.has(key(0))).toBe(false)
    }))), 60_000)

  it(`a restarting node reads the owners of its ${OWN_SESSIONS} sessions among ${OTHER_SESSIONS} others by key, not by listing them all`, () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = yield* coordinationAt(etcd.endpoint, "restart")
      // Owner keys as claims leave them, written in txns of 128 puts: claiming 220k one by one takes minutes.
      const put = (owners: ReadonlyArray<readonly [string, string]>) =>
        Effect.forEach(chunks(owners, TXN_OPS), (batch) =>
          Effect.promise(() => raw.kv.txn({
            success: batch.map(([id, owner]) => ({
              request_put: { key: Buffer.from(`/rmq/restart/${OWNERS_PREFIX}${ownershipKey(id)}`), value: Buffer.from(JSON.stringify({ owner, epoch: 1 })) }
            }))
          })), { concurrency: 8, discard: true })
      yield* put(Array.from({ length: OWN_SESSIONS }, (_, i) => [ownId(i), ownOwner(i)] as const))
      // The same read while etcd holds this node's sessions only: what it costs does not depend on the others.
      const alone = yield* Effect.timed(sessionOwners(coordination, Array.from({ length: OWN_SESSIONS }, (_, i) => ownId(i))))
      expect(alone[1].size).toBe(OWN_SESSIONS)
      yield* Effect.log(`restart owner read (etcd), ${OWN_SESSIONS} own sessions and no others: ownersOf ${Math.round(Duration.toMillis(alone[0]))} ms`)
      yield* put(Array.from({ length: OTHER_SESSIONS }, (_, i) => [otherId(i), `node-${i % 100}`] as const))
      const { listingMs, ownersOfMs } = yield* compareOwnerReads(coordination, OWN_SESSIONS, "etcd")
      // Loose: the machine is shared; the point is that it does not grow with the others.
      if (heavy) expect(ownersOfMs).toBeLessThan(listingMs)
      // A node that restored nothing asks nothing, however many others there are.
      const began = Date.now()
      expect((yield* sessionOwners(coordination, [])).size).toBe(0)
      expect(Date.now() - began).toBeLessThan(50)
    }))), heavy ? 600_000 : 60_000)

  it("a watch that resumes past a compaction fails, and its consumer lists again and loses nothing", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(etcd.endpoint).port) })
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const writerSide = yield* coordinationAt(etcd.endpoint, "cmp")
        const consumerSide = yield* coordinationAt(`http://127.0.0.1:${proxy.port}`, "cmp")
        const writer = yield* writerSide.join({ id: "writer", address: "w" }, 60)
        const write = (from: number, to: number) =>
          Effect.forEach(chunks(Array.from({ length: to - from }, (_, i) => ({ key: key(from + i), value: value(from + i) })), TXN_OPS), writer.write, { discard: true })

        // Watching from a revision already compacted fails at once, naming the cure.
        const { revision: old } = yield* writerSide.list("big/")
        yield* write(0, 100)
        yield* writer.write([{ key: key(0), value: value(0) }]) // one more revision, so the compaction passes `old + 1`
        const { revision: now } = yield* writerSide.list("big/")
        yield* Effect.promise(() => raw.kv.compact({ revision: now }))
        const refused = yield* Effect.flip(consumerSide.watch("big/", old).pipe(Stream.runDrain, Effect.timeout("5 seconds")))
        expect(refused.message).toMatch(/compacted: list again/)

        const consumer = follow(consumerSide, "big/")
        yield* Effect.forkScoped(consumer.run)
        yield* Effect.promise(() => pollUntil("the consumer to see 100 keys", () => consumer.view.size === 100))
        const listingsBefore = consumer.listings()

        // Cut the consumer off; meanwhile keys change and etcd compacts past its watch.
        proxy.cut()
        yield* write(100, 300)
        yield* writer.write(Array.from({ length: 50 }, (_, i) => ({ key: key(i), value: null })))
        const during = yield* writerSide.list("big/")
        yield* Effect.promise(() => raw.kv.compact({ revision: during.revision }))
        proxy.restore()

        yield* Effect.promise(() => pollUntil("the consumer to list again and catch up", () => consumer.listings() > listingsBefore && consumer.view.size === 250))
        expect(consumer.view).toEqual(asMap(during.entries))
        expect(consumer.breaks.some((m) => /compacted: list again/.test(m))).toBe(true)
        // ...and it follows live writes again.
        yield* writer.write([{ key: "big/zz-later", value: "later" }])
        yield* Effect.promise(() => pollUntil("a write after the recovery", () => consumer.view.get("big/zz-later") === "later"))
      })))
    } finally {
      await proxy.close()
    }
  }, 60_000)

  it("a node's route table cut off while etcd compacts past its watch lists again and ends up with every route", async () => {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(etcd.endpoint).port) })
    const warnings: Array<string> = []
    const capture = Logger.make(({ message }) => void warnings.push(String(message)))
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const writerSide = yield* coordinationAt(etcd.endpoint, "rt")
        const nodeSide = yield* coordinationAt(`http://127.0.0.1:${proxy.port}`, "rt")
        const n1 = yield* writerSide.join({ id: "n1", address: "n1" }, 60)
        const route = (i: number): KeyWrite => ({ key: `${routesPrefix}n1/d${i}`, value: `devices/${i}/cmd` })
        const routes = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => route(from + i))
        const table = new RouteTable("n2")
        yield* Effect.forkScoped(table.follow(nodeSide))
        yield* Effect.forEach(chunks(routes(0, 100), TXN_OPS), n1.write, { discard: true })
        yield* Effect.promise(() => pollUntil("100 routes", () => table.countsByNode().get("n1") === 100))

        proxy.cut()
        yield* Effect.forEach(chunks(routes(100, 300), TXN_OPS), n1.write, { discard: true })
        yield* n1.write(routes(0, 50).map((r) => ({ key: r.key, value: null })))
        const { revision } = yield* writerSide.list(routesPrefix)
        yield* Effect.promise(() => raw.kv.compact({ revision }))
        proxy.restore()

        yield* Effect.promise(() => pollUntil("the route table to list again", () => table.countsByNode().get("n1") === 250))
        for (let i = 0; i < 300; i++) expect(table.match(`devices/${i}/cmd`).map((r) => r.node), `devices/${i}/cmd`).toEqual(i < 50 ? [] : ["n1"])
        expect(warnings.some((w) => /route watch broke .*compacted: list again/.test(w))).toBe(true)
      }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, capture)))))
    } finally {
      await proxy.close()
    }
  }, 60_000)

  it("the member with the lowest id compacts etcd's history, keeping about one period; others do not", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const periodMs = 300
      const compacted = (revision: number) =>
        raw.get("/rmq/cpt/probe").revision(revision).exec().then(() => false, (e: Error) => {
          if (/compacted/.test(e.message)) return true
          throw e
        })
      const b = yield* coordinationAt(etcd.endpoint, "cpt", periodMs)
      const a = yield* coordinationAt(etcd.endpoint, "cpt", 0)
      const writerB = yield* b.join({ id: "node-b", address: "b" }, 60)
      yield* a.join({ id: "node-a", address: "a" }, 60)
      yield* writerB.write([{ key: "probe", value: "1" }])
      const { revision: first } = yield* b.list("probe")
      // node-a is lowest and does not compact: node-b, which would, leaves history alone.
      yield* Effect.sleep(periodMs * 5)
      expect(yield* Effect.promise(() => compacted(first))).toBe(false)

      // A lowest member that compacts: within two periods the old revision is gone.
      const c = yield* coordinationAt(etcd.endpoint, "cpt", periodMs)
      yield* c.join({ id: "node-0", address: "0" }, 60)
      yield* writerB.write([{ key: "probe", value: "2" }])
      yield* Effect.promise(() => pollUntil("the lowest member to compact", () => compacted(first), 10_000))
      // The latest revision stays readable, and history within the last period is kept.
      const { revision: latest } = yield* b.list("probe")
      expect(yield* Effect.promise(() => compacted(latest))).toBe(false)
    }))), 30_000)
})

describe("restart owner read over the --workers IPC channel (in-process JSON)", () => {
  it(`reads the owners of ${OWN_SESSIONS} sessions among ${OTHER_SESSIONS} others by key`, () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const coordination = yield* Coordination
      const claim = (id: string, owner: string) => Effect.flatMap(coordination.claim(ownershipKey(id), "node-a", 0), (mine) =>
        owner === "node-a" ? Effect.void : Effect.asVoid(coordination.claim(ownershipKey(id), owner, mine.epoch)))
      yield* Effect.forEach(Array.from({ length: OTHER_SESSIONS }, (_, i) => i), (i) => claim(otherId(i), `node-${i % 100}`), { concurrency: 64, discard: true })
      yield* Effect.forEach(Array.from({ length: OWN_SESSIONS }, (_, i) => i), (i) => claim(ownId(i), ownOwner(i)), { concurrency: 64, discard: true })
      yield* compareOwnerReads(coordination, OWN_SESSIONS, "IPC")
    }).pipe(Effect.provide(ipcPair)))), heavy ? 600_000 : 60_000)
})
