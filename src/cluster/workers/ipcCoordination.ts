/**
 * A worker's Coordination (`robustmq start --workers N` without etcd): every call goes to the
 * primary over the IPC channel (coordinationHost.ts serves them), with the same deadlines and
 * errors as etcd's layer, so the cluster code cannot tell the two apart. A call the contract
 * gains later works unchanged: unknown methods are forwarded by name.
 */
import { Effect, Layer, type Scope, Stream } from "effect"
import {
  Coordination,
  CoordinationError,
  type CoordinationService,
  type KeyWrite,
  type MemberInfo,
  type Membership,
  type Ownership,
  OwnershipConflict,
  StreamVersionConflict
} from "../../../services/Coordination.js"
import { isOurs, type PrimaryMessage, TAG, type WireError, type WorkerRequest } from "./ipcProtocol.js"

/** Calls that take longer than this fail with CoordinationError, as etcd calls do. */
const DEADLINE_MS = 5000
const STREAMS = new Set(["watch", "watchMembers"])
/** Keys per `ownersOf` message: about 0.3 MB of request and 0.8 MB of answer. */
const IPC_OWNERS_BATCH = 10_000

export interface Channel {
  send(message: WorkerRequest): void
  on(event: "message", listener: (message: unknown) => void): void
}

const fromWire = (op: string, e: WireError): CoordinationError | OwnershipConflict | StreamVersionConflict =>
  e.tag === "OwnershipConflict"
    ? new OwnershipConflict({ key: e.key, current: e.current })
    : e.tag === "StreamVersionConflict"
    ? new StreamVersionConflict({ stream: e.stream, expected: e.expected, actual: e.actual })
    : new CoordinationError({ op: `${op} (${e.op})`, cause: new Error(e.message) })

export const make = (channel: Channel): CoordinationService => {
  let nextId = 1
  const calls = new Map<number, (m: PrimaryMessage) => void>()
  const lost = new Map<number, () => void>()
  channel.on("message", (m) => {
    if (!isOurs(m)) return
    const message = m as PrimaryMessage
    if (message.kind === "lost") return lost.get(message.join)?.()
    if ("id" in message) calls.get(message.id)?.(message)
  })

  const send = (op: string, request: WorkerRequest): Effect.Effect<void, CoordinationError> =>
    Effect.try({ try: () => channel.send(request), catch: (cause) => new CoordinationError({ op, cause }) })

  const call = <A>(op: string, request: (id: number) => WorkerRequest): Effect.Effect<A, CoordinationError | OwnershipConflict | StreamVersionConflict> =>
    Effect.async<A, CoordinationError | OwnershipConflict | StreamVersionConflict>((resume) => {
      const id = nextId++
      const timer = setTimeout(() => {
        calls.delete(id)
        resume(Effect.fail(new CoordinationError({ op, cause: new Error(`the primary did not answer in ${DEADLINE_MS} ms`) })))
      }, DEADLINE_MS)
      calls.set(id, (m) => {
        if (m.kind !== "result") return
        clearTimeout(timer)
        calls.delete(id)
        resume(
          m.error !== undefined
            ? Effect.fail(fromWire(op, m.error))
            : Effect.succeed((m.map === true ? new Map(m.value as ReadonlyArray<readonly [unknown, unknown]>) : m.value) as A)
        )
      })
      try {
        channel.send(request(id))
      } catch (cause) {
        clearTimeout(timer)
        calls.delete(id)
        resume(Effect.fail(new CoordinationError({ op, cause })))
      }
      return Effect.sync(() => {
        clearTimeout(timer)
        calls.delete(id)
      })
    })

  const invoke = (method: string, args: ReadonlyArray<unknown>) => call(method, (id) => ({ rmq: TAG, kind: "call", id, method, args }))

  const stream = (method: string, args: ReadonlyArray<unknown>): Stream.Stream<unknown, CoordinationError> =>
    Stream.asyncPush<unknown, CoordinationError>((emit) =>
      Effect.acquireRelease(
        Effect.suspend(() => {
          const id = nextId++
          calls.set(id, (m) => {
            if (m.kind === "item") emit.single(m.item)
            else if (m.kind === "end") {
              calls.delete(id)
              if (m.error === undefined) emit.end()
              else emit.fail(fromWire(method, m.error) as CoordinationError)
            }
          })
          return Effect.as(send(method, { rmq: TAG, kind: "stream", id, method, args }), id)
        }),
        (id) =>
          Effect.sync(() => {
            calls.delete(id)
            try {
              channel.send({ rmq: TAG, kind: "cancel", id })
            } catch {
              // the channel is gone: so is the stream on the other side
            }
          })
      ), { bufferSize: "unbounded" })

  const join = (member: MemberInfo, ttl: number): Effect.Effect<Membership, CoordinationError, Scope.Scope> =>
    Effect.acquireRelease(
      Effect.gen(function*() {
        const joinId = (yield* call<number>("join", (id) => ({ rmq: TAG, kind: "join", id, member, ttl }))) as number
        let resolveLost!: () => void
        const lostPromise = new Promise<void>((resolve) => (resolveLost = resolve))
        lost.set(joinId, resolveLost)
        const membership: Membership = {
          lost: Effect.promise(() => lostPromise),
          write: (batch: ReadonlyArray<KeyWrite>) =>
            call<void>("write", (id) => ({ rmq: TAG, kind: "write", id, join: joinId, batch })) as Effect.Effect<void, CoordinationError>
        }
        return { joinId, membership }
      }) as Effect.Effect<{ joinId: number; membership: Membership }, CoordinationError>,
      ({ joinId }) =>
        Effect.ignore(call("leave", (id) => ({ rmq: TAG, kind: "leave", id, join: joinId }))).pipe(Effect.ensuring(Effect.sync(() => lost.delete(joinId))))
    ).pipe(Effect.map(({ membership }) => membership))

  // In messages of IPC_OWNERS_BATCH keys, each with its own deadline: one message of a worker's
  // every session would outgrow it (a 60k-entry message took 1.2 s).
  const ownersOf = (keys: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const owners = new Map<string, Ownership | null>()
      const batches: Array<ReadonlyArray<string>> = []
      for (let i = 0; i < keys.length; i += IPC_OWNERS_BATCH) batches.push(keys.slice(i, i + IPC_OWNERS_BATCH))
      yield* Effect.forEach(batches, (batch) =>
        Effect.map(invoke("ownersOf", [batch]) as Effect.Effect<ReadonlyMap<string, Ownership | null>, CoordinationError>, (part) => {
          for (const [key, owner] of part) owners.set(key, owner)
        }), { concurrency: 2, discard: true })
      return owners
    })

  const known: Record<string, unknown> = {
    join,
    ownersOf,
    members: invoke("members", [])
  }
  return new Proxy(known, {
    get: (target, property) => {
      if (typeof property !== "string") return undefined
      if (property in target) return target[property]
      if (STREAMS.has(property)) return (...args: ReadonlyArray<unknown>) => stream(property, args)
      return (...args: ReadonlyArray<unknown>) => invoke(property, args)
    }
  }) as unknown as CoordinationService
}

/** The worker's Coordination, over `process` (the IPC channel node:cluster opened). */
export const layer = Layer.sync(Coordination, () => make(process as unknown as Channel))
