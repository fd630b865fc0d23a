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
  OwnershipConflict,
  StreamVersionConflict
} from "../../../services/Coordination.js"
import { isOurs, type PrimaryMessage, TAG, type WireError, type WorkerRequest } from "./ipcProtocol.js"

/** Calls that take longer than this fail with CoordinationError, as etcd calls do. */
const DEADLINE_MS = 5000
const STREAMS = new Set(["watch", "watchMembers"])

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
        resume(m.error === undefined ? Effect.succeed(m.value as A) : Effect.fail(fromWire(op, m.error)))
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

  const known: Record<string, unknown> = {
    join,
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
