/**
 * Coordination on etcd (3.4+) through the `etcd3` client, kept behind the Coordination Tag so
 * the client can be replaced. Keys live under `/rmq/<cluster>/`: `nodes/<id>` (on the member's
 * lease), `owners/<key>` (`{owner, epoch}`). Every unary call has a deadline (without one a
 * leader's death stalls calls for seconds); a claim is a read, then a transaction guarded by the
 * read's mod revision, and a failed or unknown outcome is settled by reading again. Cluster
 * event streams keep `streams/<name>/<version>` and `heads/<name>` (the version as text): an
 * append is one transaction comparing the head's value.
 */
import { Deferred, Effect, Layer, Stream } from "effect"
import { Etcd3, type IKeyValue } from "etcd3"
import {
  Coordination,
  CoordinationError,
  type KeyChange,
  type KeyWrite,
  type MemberChange,
  type MemberInfo,
  type Ownership,
  OwnershipConflict,
  streamEntryKey,
  streamHeadKey,
  StreamVersionConflict
} from "../../services/Coordination.js"

export interface EtcdOptions {
  readonly endpoints: ReadonlyArray<string>
  readonly cluster: string
  /** Per call (ms). */
  readonly deadlineMs?: number
}

const tryEtcd = <A>(op: string, run: () => Promise<A>) => Effect.tryPromise({ try: run, catch: (cause) => new CoordinationError({ op, cause }) })

const parseOwnership = (text: string | null | undefined): Ownership | null => {
  if (text === null || text === undefined) return null
  const o = JSON.parse(text) as Ownership
  return { owner: o.owner, epoch: o.epoch }
}

export const make = (options: EtcdOptions) =>
  Effect.gen(function*() {
    const deadlineMs = options.deadlineMs ?? 1000
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new Etcd3({
          hosts: [...options.endpoints],
          defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + deadlineMs })
        })
      ),
      (c) => Effect.sync(() => c.close())
    )
    const root = `/rmq/${options.cluster}/`
    const nodes = `${root}nodes/`
    const ownerKey = (key: string) => `${root}owners/${key}`

    const readOwner = (key: string) =>
      tryEtcd("read owner", () => client.get(ownerKey(key)).exec()).pipe(
        Effect.map((res) => {
          const kv = res.kvs[0]
          return kv === undefined ? null : { ownership: parseOwnership(kv.value.toString()), modRevision: kv.mod_revision }
        })
      )

    return Coordination.of({
      join: (member: MemberInfo, ttlSeconds: number) =>
        Effect.gen(function*() {
          const lost = yield* Deferred.make<void>()
          const lease = yield* Effect.acquireRelease(
            Effect.sync(() => client.lease(ttlSeconds)),
            (l) => Effect.promise(() => l.revoke().catch(() => undefined)) // the lease lapses anyway
          )
          lease.on("lost", () => Deferred.unsafeDone(lost, Effect.void))
          yield* tryEtcd("join", () => lease.put(nodes + member.id).value(JSON.stringify(member)).exec())
          const leaseId = yield* tryEtcd("join", () => lease.grant())
          // Guarded by this member's own key: a node whose lease lapsed writes nothing.
          const write = (batch: ReadonlyArray<KeyWrite>) =>
            tryEtcd("write", () =>
              client.if(nodes + member.id, "Version", ">", 0).then(
                ...batch.map((w) => w.value === null ? client.delete().key(root + w.key) : client.put(root + w.key).value(w.value).lease(leaseId))
              ).commit()
            ).pipe(Effect.flatMap((res) => res.succeeded ? Effect.void : Effect.fail(new CoordinationError({ op: "write", cause: new Error("lease lost") }))))
          return { lost: Deferred.await(lost), write }
        }),
      members: tryEtcd("list members", () => client.getAll().prefix(nodes).exec()).pipe(
        Effect.map((res) => ({
          members: res.kvs.map((kv: IKeyValue) => JSON.parse(kv.value.toString()) as MemberInfo),
          revision: Number(res.header.revision)
        }))
      ),
      watchMembers: (revision: number) =>
        Stream.asyncScoped<MemberChange, CoordinationError>((emit) =>
          Effect.acquireRelease(
            tryEtcd("watch members", () => client.watch().prefix(nodes).startRevision(String(revision + 1)).create()),
            (watcher) => Effect.promise(() => watcher.cancel().catch(() => undefined))
          ).pipe(Effect.map((watcher) => {
            watcher.on("put", (kv) => void emit.single({ _tag: "Joined", member: JSON.parse(kv.value.toString()) as MemberInfo, revision: Number(kv.mod_revision) }))
            watcher.on("delete", (kv) => void emit.single({ _tag: "Left", id: kv.key.toString().slice(nodes.length), revision: Number(kv.mod_revision) }))
            watcher.on("error", (cause) => void emit.fail(new CoordinationError({ op: "watch members", cause })))
          }))
        ),
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
          const guard = read === null
            ? client.if(ownerKey(key), "Version", "==", 0)
            : client.if(ownerKey(key), "Mod", "==", Number(read.modRevision))
          const committed = yield* tryEtcd("claim", () => guard.then(client.put(ownerKey(key)).value(JSON.stringify(next))).commit()).pipe(
            Effect.map((res) => res.succeeded),
            // Unknown outcome: what etcd holds now says whether it committed.
            Effect.catchAll(() => Effect.succeed(false))
          )
          if (committed) return next
          return yield* Effect.flatMap(readOwner(key), (now) => settled(now?.ownership ?? null))
        }),
      ownerOf: (key: string) => Effect.map(readOwner(key), (read) => read?.ownership ?? null),
      writeIfOwned: (key: string, ownership: Ownership, batch: ReadonlyArray<KeyWrite>, release = false) =>
        tryEtcd("write if owned", () =>
          // The value compared is exactly what claim wrote for this ownership.
          client.if(ownerKey(key), "Value", "==", JSON.stringify({ owner: ownership.owner, epoch: ownership.epoch })).then(
            ...batch.map((w) => w.value === null ? client.delete().key(root + w.key) : client.put(root + w.key).value(w.value)),
            ...(release ? [client.delete().key(ownerKey(key))] : [])
          ).commit()
        ).pipe(Effect.map((res) => res.succeeded)),
      appendIfVersion: (stream: string, expected: number, values: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const head = root + streamHeadKey(stream)
          const next = expected + values.length
          if (values.length === 0) {
            const now = Number((yield* tryEtcd("read stream head", () => client.get(head).string())) ?? 0)
            return now === expected ? now : yield* new StreamVersionConflict({ stream, expected, actual: now })
          }
          const guard = expected === 0 ? client.if(head, "Version", "==", 0) : client.if(head, "Value", "==", String(expected))
          const res = yield* tryEtcd("append", () =>
            guard.then(
              ...values.map((v, i) => client.put(root + streamEntryKey(stream, expected + 1 + i)).value(v)),
              client.put(head).value(String(next))
            ).commit()
          )
          if (res.succeeded) return next
          // The guard failed: either another append came first, or this one did (a retry).
          const [now, first] = yield* tryEtcd("read stream head", () =>
            Promise.all([client.get(head).string(), client.get(root + streamEntryKey(stream, expected + 1)).string()])
          )
          if (first === values[0]) return next
          return yield* new StreamVersionConflict({ stream, expected, actual: Number(now ?? 0) })
        }),
      get: (key: string) => tryEtcd("get", () => client.get(root + key).string()),
      list: (prefix: string) =>
        tryEtcd("list", () => client.getAll().prefix(root + prefix).exec()).pipe(
          Effect.map((res) => ({
            entries: res.kvs.map((kv: IKeyValue) => ({ key: kv.key.toString().slice(root.length), value: kv.value.toString() })),
            revision: Number(res.header.revision)
          }))
        ),
      watch: (prefix: string, revision: number) =>
        Stream.asyncScoped<KeyChange, CoordinationError>((emit) =>
          Effect.acquireRelease(
            tryEtcd("watch", () => client.watch().prefix(root + prefix).startRevision(String(revision + 1)).create()),
            (watcher) => Effect.promise(() => watcher.cancel().catch(() => undefined))
          ).pipe(Effect.map((watcher) => {
            const key = (kv: IKeyValue) => kv.key.toString().slice(root.length)
            watcher.on("put", (kv) => void emit.single({ _tag: "Put", key: key(kv), value: kv.value.toString(), revision: Number(kv.mod_revision) }))
            watcher.on("delete", (kv) => void emit.single({ _tag: "Delete", key: key(kv), revision: Number(kv.mod_revision) }))
            watcher.on("error", (cause) => void emit.fail(new CoordinationError({ op: "watch", cause })))
          }))
        )
    })
  })

export const layer = (options: EtcdOptions): Layer.Layer<Coordination> => Layer.scoped(Coordination, make(options))
