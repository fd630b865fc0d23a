/**
 * The etcd3 client set up for a cluster that loses members, and the whole-call deadline every
 * unary call runs under. Measured on a 3-member etcd (election timeout 500 ms) with etcd3 1.1.2's
 * defaults: its global policy retries a call 3 times, each try with a fresh deadline, so a 1 s
 * call took 2 s and more with quorum lost; its per-member circuit breaker, opened by the
 * timeouts of an election, skipped live members for 5 s; watches reconnected with a backoff that
 * grows to 30 s. Here: one try per pick of a member, a member that failed is skipped for a
 * second while another is not, our own retry loop shares one deadline across tries, and watches
 * reconnect within half a second.
 */
import { Effect } from "effect"
import { Etcd3, type IOptions, isRecoverableError } from "etcd3"
import { CoordinationError } from "../../services/Coordination.js"

type Policy = NonNullable<NonNullable<IOptions["faultHandling"]>["global"]>
type Backoff = NonNullable<NonNullable<IOptions["faultHandling"]>["watchBackoff"]>

/** How long a member that failed a call is passed over (while some other member has not failed). */
const SKIP_FAILED_MS = 1000
/** Pause between two tries of one call. */
const RETRY_PAUSE_MS = 25
/**
 * Largest response accepted (grpc-js refuses more than 4 MiB by default). Listings come in pages
 * (etcdRange.ts), but a watch that resumes far behind gets up to 1,000 revisions of events in one
 * message, and 1,000 route txns of 128 keys are ~12 MB.
 */
const MAX_RECEIVE_BYTES = 64 * 1024 * 1024

/** The pool moves on to the next member when a host policy refuses without calling through. */
class SkippedMember extends Error {}

/** Which members failed lately: calls go to one that did not, while there is one. */
class MemberHealth {
  private readonly failedUntil = new Map<string, number>()

  policy(host: string): Policy {
    const execute = async <T>(fn: (context: unknown) => Promise<T> | T): Promise<T> => {
      const now = Date.now()
      if ((this.failedUntil.get(host) ?? 0) > now && this.someHealthy(now)) throw new SkippedMember(host)
      try {
        const result = await fn({ signal: new AbortController().signal })
        this.failedUntil.delete(host)
        return result
      } catch (e) {
        if (e instanceof Error && isRecoverableError(e)) this.failedUntil.set(host, Date.now() + SKIP_FAILED_MS)
        throw e
      }
    }
    return { execute } as unknown as Policy
  }

  private someHealthy(now: number): boolean {
    if (this.failedUntil.size < this.hosts) return true
    for (const until of this.failedUntil.values()) if (until <= now) return true
    return false
  }

  constructor(private readonly hosts: number) {}
}

/** One try per call: `call` below retries, within the call's own deadline. */
const singleTry = { execute: (fn: (context: unknown) => unknown) => Promise.resolve().then(() => fn({ signal: new AbortController().signal })) } as unknown as Policy

/** 50, 100, 200, 400, 500, 500... ms. */
const watchBackoff = (duration = 50): Backoff => ({ duration, next: () => watchBackoff(Math.min(duration * 2, 500)) }) as unknown as Backoff

export const makeClient = (endpoints: ReadonlyArray<string>, deadlineMs: number): Etcd3 => {
  const health = new MemberHealth(endpoints.length)
  return new Etcd3({
    hosts: [...endpoints],
    grpcOptions: { "grpc.max_receive_message_length": MAX_RECEIVE_BYTES },
    faultHandling: { global: singleTry, host: (host) => health.policy(host), watchBackoff: watchBackoff() },
    // Calls made inside etcd3 itself (a lease's grant): one try, bounded.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + deadlineMs })
  })
}

export interface Try {
  /** For grpc: this try's deadline. */
  readonly deadline: Date
}

/**
 * Runs `run` until it succeeds, fails for a reason retrying cannot fix, or `deadlineMs` have
 * passed since the call began, whichever comes first: a try gets at most half of the budget, so
 * a member that hangs leaves time to ask another. Every write given here is compare-guarded and
 * idempotent, so trying again after an unknown outcome is safe.
 */
export const call = <A>(op: string, deadlineMs: number, run: (attempt: Try) => Promise<A>): Effect.Effect<A, CoordinationError> =>
  Effect.tryPromise({
    try: async () => {
      const end = Date.now() + deadlineMs
      for (;;) {
        const now = Date.now()
        try {
          return await run({ deadline: new Date(Math.min(end, now + Math.max(deadlineMs / 2, 100))) })
        } catch (e) {
          const retriable = e instanceof SkippedMember || (e instanceof Error && isRecoverableError(e))
          if (!retriable || Date.now() + RETRY_PAUSE_MS >= end) throw e
          await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS))
        }
      }
    },
    catch: (cause) => new CoordinationError({ op, cause })
  }).pipe(
    // A belt for what runs inside etcd3 without our deadline.
    Effect.timeoutFail({ duration: deadlineMs + 100, onTimeout: () => new CoordinationError({ op, cause: new Error(`no answer in ${deadlineMs} ms`) }) })
  )
