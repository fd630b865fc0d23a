/**
 * The primary's side of its workers' Coordination: one in-process service (the memory layer,
 * the same contract etcd's layer keeps) served to every worker over its IPC channel. A worker
 * that exits leaves at once: its membership scope closes, so its routes vanish and the others
 * see it go without waiting out a lease.
 */
import { Cause, Effect, Exit, Fiber, Option, Scope, Stream } from "effect"
import type { CoordinationService, Membership } from "../../../services/Coordination.js"
import { isOurs, type PrimaryMessage, TAG, type WireError, type WorkerRequest } from "./ipcProtocol.js"

/** What the host needs of a worker: node:cluster's Worker has these. */
export interface WorkerChannel {
  send(message: PrimaryMessage): void
  isConnected(): boolean
}

export const toWire = (error: unknown): WireError => {
  const e = error as { _tag?: string; op?: string; key?: string; current?: unknown; message?: string; stream?: string; expected?: number; actual?: number }
  if (e?._tag === "OwnershipConflict") return { tag: "OwnershipConflict", key: e.key ?? "", current: (e.current ?? null) as never }
  if (e?._tag === "StreamVersionConflict") return { tag: "StreamVersionConflict", stream: e.stream ?? "", expected: e.expected ?? 0, actual: e.actual ?? 0 }
  return { tag: "CoordinationError", op: e?.op ?? "call", message: e?.message ?? String(error) }
}

/** One worker's open calls: streams it follows, memberships it holds. */
class Session {
  readonly streams = new Map<number, Fiber.RuntimeFiber<void, unknown>>()
  readonly joins = new Map<number, { readonly scope: Scope.CloseableScope; readonly membership: Membership }>()
  constructor(readonly channel: WorkerChannel) {}
}

export class CoordinationHost {
  private readonly sessions = new Map<WorkerChannel, Session>()

  constructor(private readonly service: CoordinationService) {}

  /** A message from `channel`'s worker; false when it is not one of ours. */
  receive(channel: WorkerChannel, message: unknown): boolean {
    if (!isOurs(message)) return false
    let session = this.sessions.get(channel)
    if (session === undefined) {
      session = new Session(channel)
      this.sessions.set(channel, session)
    }
    this.handle(session, message as WorkerRequest)
    return true
  }

  /** The worker is gone: it leaves, and what it followed stops. */
  gone(channel: WorkerChannel): Promise<void> {
    const session = this.sessions.get(channel)
    if (session === undefined) return Promise.resolve()
    this.sessions.delete(channel)
    return Effect.runPromise(Effect.gen(function*() {
      for (const fiber of session.streams.values()) yield* Fiber.interrupt(fiber)
      for (const { scope } of session.joins.values()) yield* Scope.close(scope, Exit.void)
    }))
  }

  private reply(session: Session, id: number, exit: Exit.Exit<unknown, unknown>): void {
    const error = Exit.isFailure(exit) ? Option.getOrElse(Cause.failureOption(exit.cause), () => Cause.squash(exit.cause)) : undefined
    const message: PrimaryMessage = Exit.isFailure(exit)
      ? { rmq: TAG, kind: "result", id, error: toWire(error) }
      : exit.value instanceof Map
      ? { rmq: TAG, kind: "result", id, value: [...exit.value], map: true }
      : { rmq: TAG, kind: "result", id, value: exit.value === undefined ? null : exit.value }
    send(session, message)
  }

  private run(session: Session, id: number, effect: Effect.Effect<unknown, unknown>): void {
    Effect.runCallback(effect, { onExit: (exit) => this.reply(session, id, exit) })
  }

  private handle(session: Session, m: WorkerRequest): void {
    const service = this.service as unknown as Record<string, unknown>
    switch (m.kind) {
      case "call": {
        const target = service[m.method]
        const effect = typeof target === "function"
          ? (target as (...args: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown>)(...m.args)
          : Effect.isEffect(target)
          ? (target as Effect.Effect<unknown, unknown>)
          : Effect.fail({ _tag: "CoordinationError", op: m.method, message: `no coordination call ${m.method}` })
        return this.run(session, m.id, effect)
      }
      case "stream": {
        const stream = (service[m.method] as (...args: ReadonlyArray<unknown>) => Stream.Stream<unknown, unknown>)(...m.args)
        const fiber = Effect.runFork(Stream.runForEach(stream, (item) => Effect.sync(() => send(session, { rmq: TAG, kind: "item", id: m.id, item }))))
        session.streams.set(m.id, fiber)
        fiber.addObserver((exit) => {
          session.streams.delete(m.id)
          if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return
          const error = Exit.isFailure(exit) ? toWire(Cause.squash(exit.cause)) : undefined
          send(session, error === undefined ? { rmq: TAG, kind: "end", id: m.id } : { rmq: TAG, kind: "end", id: m.id, error })
        })
        return
      }
      case "cancel": {
        const fiber = session.streams.get(m.id)
        if (fiber !== undefined) Effect.runFork(Fiber.interrupt(fiber))
        return
      }
      case "join": {
        const joined = Effect.gen(this, function*() {
          const scope = yield* Scope.make()
          const membership = yield* Scope.extend(this.service.join(m.member, m.ttl), scope).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
          session.joins.set(m.id, { scope, membership })
          Effect.runFork(Effect.zipRight(membership.lost, Effect.sync(() => send(session, { rmq: TAG, kind: "lost", join: m.id }))))
          return m.id
        })
        return this.run(session, m.id, joined)
      }
      case "write": {
        const held = session.joins.get(m.join)
        return this.run(session, m.id, held === undefined ? Effect.fail({ _tag: "CoordinationError", op: "write", message: "not a member (left)" }) : held.membership.write(m.batch))
      }
      case "leave": {
        const held = session.joins.get(m.join)
        session.joins.delete(m.join)
        return this.run(session, m.id, held === undefined ? Effect.void : Scope.close(held.scope, Exit.void))
      }
    }
  }
}

const send = (session: Session, message: PrimaryMessage) => {
  if (!session.channel.isConnected()) return // the worker is going: its exit cleans up
  try {
    session.channel.send(message)
  } catch {
    // the worker is going: its exit cleans up
  }
}
