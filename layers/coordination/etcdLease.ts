/**
 * A member's lease on etcd, kept alive by us rather than by etcd3's Lease: each renewal is one
 * short keep-alive stream to whichever member answers (a leader's death moves the next renewal
 * elsewhere), and the lease counts as lost as soon as it may have expired, not twice its TTL
 * later as etcd3's does. etcd expires a lease no earlier than TTL after the last renewal it
 * acknowledged was sent, so a node that has had no acknowledgement for TTL since then stops
 * serving what it owns: the others may count it dead from that moment on.
 */
import { Effect } from "effect"
import { castGrpcError, type Etcd3, EtcdLeaseInvalidError } from "etcd3"
import type { CoordinationError } from "../../services/Coordination.js"
import { call, type Try } from "./etcdClient.js"

/** A granted lease: its id, and when the grant was sent (its TTL runs from no earlier than that). */
export interface Granted {
  readonly id: string
  readonly sentAt: number
}

export const grant = (client: Etcd3, ttlSeconds: number, deadlineMs: number): Effect.Effect<Granted, CoordinationError> =>
  Effect.suspend(() => {
    const sentAt = Date.now()
    return Effect.map(
      call("join", deadlineMs, (t) => client.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }, { deadline: t.deadline })),
      (res) => ({ id: res.ID, sentAt })
    )
  })

/** Best effort: a lease etcd no longer has is revoked already; one it cannot reach lapses by itself. */
export const revoke = (client: Etcd3, id: string, deadlineMs: number): Effect.Effect<void> =>
  call("leave", deadlineMs, (t) => client.leaseClient.leaseRevoke({ ID: id }, { deadline: t.deadline }).catch((e: unknown) => {
    if (e instanceof EtcdLeaseInvalidError) return null
    throw e
  })).pipe(Effect.ignore)

/** One renewal: the lease's remaining TTL in seconds (0: etcd no longer has it). */
const renewOnce = (client: Etcd3, id: string, attempt: Try): Promise<number> =>
  client.leaseClient.leaseKeepAlive({ deadline: attempt.deadline }).then((stream) =>
    new Promise<number>((resolve, reject) => {
      stream.on("data", (res) => {
        resolve(Number(res.TTL))
        stream.end()
      })
      stream.on("error", (e: Error) => reject(castGrpcError(e)))
      stream.write({ ID: id })
    })
  )

/**
 * Renews `lease` every TTL/4 (at most once a second) until it is lost: etcd says it has gone, or
 * nothing was acknowledged for TTL since the last acknowledged renewal was sent. Completes then;
 * interrupt it to stop renewing (a clean leave revokes the lease afterwards).
 */
export const keepAlive = (client: Etcd3, lease: Granted, ttlSeconds: number, deadlineMs: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    const ttlMs = ttlSeconds * 1000
    const every = Math.min(Math.max(ttlMs / 4, 100), 1000)
    let renewedFrom = lease.sentAt
    let pause = every
    for (;;) {
      yield* Effect.sleep(pause)
      const sentAt = Date.now()
      const left = renewedFrom + ttlMs - sentAt
      if (left <= 0) return // paused or cut off past the TTL
      const ttl = yield* Effect.either(call("keep lease", Math.min(deadlineMs, Math.max(left, 100)), (t) => renewOnce(client, lease.id, t)))
      if (ttl._tag === "Right" && ttl.right <= 0) return
      if (ttl._tag === "Right") {
        renewedFrom = sentAt
        pause = every
      } else {
        pause = 50 // no answer in time: ask again at once, on whichever member answers
      }
    }
  })
