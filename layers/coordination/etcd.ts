/**
 * Coordination on etcd (3.4+) through the `etcd3` client, kept behind the Coordination Tag so
 * the client can be replaced. Keys live under `/rmq/<cluster>/`: `nodes/<id>` (on the member's
 * lease), `owners/<key>` (`{owner, epoch}`). Every unary call has one deadline for the whole call,
 * retries across etcd members included (etcdClient.ts: without it a leader's death stalls calls
 * for seconds); the lease is renewed by etcdLease.ts; a watch connects within the deadline and,
 * once it has, etcd3 resumes it from its last revision on whichever member answers. A claim is a
 * read, then a transaction guarded by the read's mod revision, and a failed or unknown outcome
 * is settled by reading again. Cluster event streams keep `streams/<name>/<version>` and
 * `heads/<name>` (the version as text): an append is one transaction comparing the head's value.
 * Listings come in pages at one revision (etcdRange.ts); with `compactEveryMs` the lowest member
 * compacts etcd's history (etcdCompactor.ts).
 */
import { Deferred, Effect, FiberId, Layer, Stream } from "effect"
import type { Etcd3, IKeyValue } from "etcd3"
import {
  Coordination,
  CoordinationError,
  type KeyChange,
  type KeyWrite,
  type MemberChange,
  type MemberInfo,
  type Ownership,
  OWNERS_BATCH,
  OWNERS_PREFIX,
  OwnershipConflict,
  parseOwnership,
  streamEntryKey,
  streamHeadKey,
  StreamVersionConflict
} from "../../services/Coordination.js"
import { call, makeClient, type Try } from "./etcdClient.js"
import { compactHistory } from "./etcdCompactor.js"
import { isCompacted, listPrefix } from "./etcdRange.js"
import { grant, keepAlive, revoke } from "./etcdLease.js"

export interface EtcdOptions {
  readonly endpoints: ReadonlyArray<string>
  readonly cluster: string
  /** Per call, retries included (ms). */
  readonly deadlineMs?: number
  /** How often the member with the lowest id compacts etcd's history, keeping one period of it (ms); 0 or absent: never. */
  readonly compactEveryMs?: number
}

/**
 * Puts and deletes under `prefix` after `revision`. The watch must connect within `deadlineMs`
 * (else the stream fails and the caller lists again); after that etcd3 reconnects it by itself
 * from the revision it got to, on any member.
 */
const watchPrefix = <A>(
  client: Etcd3,
  op: string,
  prefix: string,
  revision: number,
  deadlineMs: number,
  toChange: (kind: "Put" | "Delete", kv: IKeyValue) => A
): Stream.Stream<A, CoordinationError> =>
  Stream.asyncScoped<A, CoordinationError>((emit) =>
    Effect.gen(function*() {
      const { watcher, cancelled } = yield* Effect.acquireRelease(
        Effect.sync(() => ({ watcher: client.watch().prefix(prefix).startRevision(String(revision + 1)).watcher(), cancelled: { byEtcd: false } })),
        // A watcher etcd cancelled is gone already, and its cancel() would wait forever for a
        // "connected" that never comes. Finalizers are uninterruptible: the wait must be made
        // interruptible for the timeout to end it.
        ({ cancelled, watcher }) =>
          cancelled.byEtcd
            ? Effect.void
            : Effect.promise(() => watcher.cancel().catch(() => undefined)).pipe(Effect.interruptible, Effect.timeout(deadlineMs), Effect.ignore)
      )
      const connected = Deferred.unsafeMake<void, CoordinationError>(FiberId.none)
      watcher.on("put", (kv) => void emit.single(toChange("Put", kv)))
      watcher.on("delete", (kv) => void emit.single(toChange("Delete", kv)))
      watcher.once("connected", () => Deferred.unsafeDone(connected, Effect.void))
      // etcd3 emits "error" only for a watch etcd cancelled (compaction, permissions).
      watcher.on("error", (e) => {
        cancelled.byEtcd = true
        const cause = compactedWatch(e) ? new Error(`revision ${revision} or a later one it resumed from was compacted: list again`, { cause: e }) : e
        Deferred.unsafeDone(connected, Effect.fail(new CoordinationError({ op, cause })))
        void emit.fail(new CoordinationError({ op, cause }))
      })
      yield* Deferred.await(connected).pipe(
        Effect.timeoutFail({ duration: deadlineMs, onTimeout: () => new CoordinationError({ op, cause: new Error(`not connected in ${deadlineMs} ms`) }) })
      )
    })
  )

/**
 * `ownersOf` batches read at the same time: 20k keys in 157 txns took 0.95-1.5 s with 4 in flight,
 * 0.54-1.3 s with 8, 0.68 s with 16 (2-core machine at load 6-8, one etcd member).
 */
const OWNERS_IN_FLIGHT = 8

const batches = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

/**
 * etcd cancels a watch whose start revision is compacted without a reason (etcd 3.4 sets only
 * compact_revision, which etcd3 does not pass on): the watcher's error is "Watcher canceled: ".
 */
const compactedWatch = (e: Error): boolean => isCompacted(e) || /^Watcher canceled: ?$/.test(e.message)

export const make = (options: EtcdOptions) =>
  Effect.gen(function*() {
    const deadlineMs = options.deadlineMs ?? 1000
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => makeClient(options.endpoints, deadlineMs)),
      (c) => Effect.sync(() => c.close())
    )
    const root = `/rmq/${options.cluster}/`
    const nodes = `${root}nodes/`
    const ownerKey = (key: string) => `${root}${OWNERS_PREFIX}${key}`
    /** The member ids this client joined as and has not left: the compactor runs on the lowest member only. */
    const joined = new Set<string>()
    const compactEveryMs = options.compactEveryMs ?? 0
    if (compactEveryMs > 0) yield* Effect.forkScoped(compactHistory({ client, nodesPrefix: nodes, joined, everyMs: compactEveryMs, deadlineMs }))
    /** A call (each try builds its request anew: a builder must not be reused). */
    const etcd = <A>(op: string, run: (attempt: Try) => Promise<A>) => call(op, deadlineMs, run)

    const readOwner = (key: string) =>
      etcd("read owner", (o) => client.get(ownerKey(key)).options(o).exec()).pipe(
        Effect.map((res) => {
          const kv = res.kvs[0]
          return kv === undefined ? null : { ownership: parseOwnership(kv.value.toString()), modRevision: kv.mod_revision }
        })
      )

    return Coordination.of({
      join: (member: MemberInfo, ttlSeconds: number) =>
        Effect.gen(function*() {
          const lost = yield* Deferred.make<void>()
          const lease = yield* Effect.acquireRelease(grant(client, ttlSeconds, deadlineMs), (l) => revoke(client, l.id, deadlineMs))
          yield* etcd("join", (o) => client.put(nodes + member.id).value(JSON.stringify(member)).lease(lease.id).options(o).exec())
          yield* Effect.acquireRelease(Effect.sync(() => joined.add(member.id)), () => Effect.sync(() => joined.delete(member.id)))
          // Interrupted before the revoke above when the scope closes (finalizers run in reverse).
          yield* Effect.forkScoped(Effect.zipRight(keepAlive(client, lease, ttlSeconds, deadlineMs), Deferred.succeed(lost, undefined)))
          // Guarded by this member's own key: a node whose lease lapsed writes nothing.
          const write = (batch: ReadonlyArray<KeyWrite>) =>
            etcd("write", (o) =>
              client.if(nodes + member.id, "Version", ">", 0).then(
                ...batch.map((w) => w.value === null ? client.delete().key(root + w.key) : client.put(root + w.key).value(w.value).lease(lease.id))
              ).options(o).commit()
            ).pipe(Effect.flatMap((res) => res.succeeded ? Effect.void : Effect.fail(new CoordinationError({ op: "write", cause: new Error("lease lost") }))))
          return { lost: Deferred.await(lost), write }
        }),
      members: listPrefix(client, "list members", nodes, deadlineMs).pipe(
        Effect.map((res) => ({
          members: res.kvs.map((kv: IKeyValue) => JSON.parse(kv.value.toString()) as MemberInfo),
          revision: res.revision
        }))
      ),
      watchMembers: (revision: number) =>
        watchPrefix<MemberChange>(client, "watch members", nodes, revision, deadlineMs, (kind, kv) =>
          kind === "Put"
            ? { _tag: "Joined", member: JSON.parse(kv.value.toString()) as MemberInfo, revision: Number(kv.mod_revision) }
            : { _tag: "Left", id: kv.key.toString().slice(nodes.length), revision: Number(kv.mod_revision) }),
      claim: (key: string, owner: string, expected: number) =>
        Effect.gen(function*() {
          const read = yield* readOwner(key)
          const current = read?.ownership ?? null
          const next: Ownership = { owner, epoch: expected + 1 }
          const settled = (now: Ownership | null) =>
            now !== null && now.owner === owner && now.epoch === next.epoch
              ? Effect.succeed(now)
              : Effect.fail(new OwnershipConflict({ key, current: now }))
          if ((current?.epoch ?? 0) !== expected) return yield* settled(current)
          const guard = () =>
            read === null
              ? client.if(ownerKey(key), "Version", "==", 0)
              : client.if(ownerKey(key), "Mod", "==", Number(read.modRevision))
          const committed = yield* etcd("claim", (o) => guard().then(client.put(ownerKey(key)).value(JSON.stringify(next))).options(o).commit()).pipe(
            Effect.map((res) => res.succeeded),
            // Unknown outcome: what etcd holds now says whether it committed.
            Effect.catchAll(() => Effect.succeed(false))
          )
          if (committed) return next
          return yield* Effect.flatMap(readOwner(key), (now) => settled(now?.ownership ?? null))
        }),
      ownerOf: (key: string) => Effect.map(readOwner(key), (read) => read?.ownership ?? null),
      ownersOf: (keys: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const owners = new Map<string, Ownership | null>()
          // A txn of reads only: linearizable, one revision per batch, and no Raft proposal.
          yield* Effect.forEach(batches(keys, OWNERS_BATCH), (batch) =>
            etcd("read owners", (o) => client.kv.txn({ success: batch.map((k) => ({ request_range: { key: Buffer.from(ownerKey(k)) } })) }, o)).pipe(
              Effect.map((res) =>
                batch.forEach((k, i) => {
                  const kv = res.responses[i]?.response_range.kvs[0]
                  owners.set(k, kv === undefined ? null : parseOwnership(kv.value.toString()))
                })
              )
            ), { concurrency: OWNERS_IN_FLIGHT, discard: true }).pipe(
            Effect.mapError((e) =>
              /too many operations in txn/.test(String(e.cause))
                ? new CoordinationError({ op: "read owners", cause: new Error(`etcd refuses txns of ${OWNERS_BATCH} operations: start it with --max-txn-ops ${OWNERS_BATCH} or more (its default)`) })
                : e
            )
          )
          return owners
        }),
      writeIfOwned: (key: string, ownership: Ownership, batch: ReadonlyArray<KeyWrite>, release = false) =>
        etcd("write if owned", (o) =>
          // The value compared is exactly what claim wrote for this ownership.
          client.if(ownerKey(key), "Value", "==", JSON.stringify({ owner: ownership.owner, epoch: ownership.epoch })).then(
            ...batch.map((w) => w.value === null ? client.delete().key(root + w.key) : client.put(root + w.key).value(w.value)),
            ...(release ? [client.delete().key(ownerKey(key))] : [])
          ).options(o).commit()
        ).pipe(Effect.map((res) => res.succeeded)),
      appendIfVersion: (stream: string, expected: number, values: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const head = root + streamHeadKey(stream)
          const next = expected + values.length
          if (values.length === 0) {
            const now = Number((yield* etcd("read stream head", (o) => client.get(head).options(o).string())) ?? 0)
            return now === expected ? now : yield* new StreamVersionConflict({ stream, expected, actual: now })
          }
          // A builder per attempt: a retried call must not carry the last attempt's operations too.
          const guard = () => expected === 0 ? client.if(head, "Version", "==", 0) : client.if(head, "Value", "==", String(expected))
          const res = yield* etcd("append", (o) =>
            guard().then(
              ...values.map((v, i) => client.put(root + streamEntryKey(stream, expected + 1 + i)).value(v)),
              client.put(head).value(String(next))
            ).options(o).commit()
          )
          if (res.succeeded) return next
          // The guard failed: either another append came first, or this one did (a retry).
          const [now, first] = yield* etcd("read stream head", (o) =>
            Promise.all([client.get(head).options(o).string(), client.get(root + streamEntryKey(stream, expected + 1)).options(o).string()])
          )
          if (first === values[0]) return next
          return yield* new StreamVersionConflict({ stream, expected, actual: Number(now ?? 0) })
        }),
      get: (key: string) => etcd("get", (o) => client.get(root + key).options(o).string()),
      list: (prefix: string) =>
        listPrefix(client, "list", root + prefix, deadlineMs).pipe(
          Effect.map((res) => ({
            entries: res.kvs.map((kv: IKeyValue) => ({ key: kv.key.toString().slice(root.length), value: kv.value.toString() })),
            revision: res.revision
          }))
        ),
      watch: (prefix: string, revision: number) =>
        watchPrefix<KeyChange>(client, "watch", root + prefix, revision, deadlineMs, (kind, kv) => {
          const key = kv.key.toString().slice(root.length)
          return kind === "Put"
            ? { _tag: "Put", key, value: kv.value.toString(), revision: Number(kv.mod_revision) }
            : { _tag: "Delete", key, revision: Number(kv.mod_revision) }
        })
    })
  })

export const layer = (options: EtcdOptions): Layer.Layer<Coordination> => Layer.scoped(Coordination, make(options))
