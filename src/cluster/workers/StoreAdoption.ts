/**
 * `--workers` (issue 11 item 6): while a worker is down, a sibling serves its Kafka partitions
 * from its data directory, under a fencing epoch, and gives them back when it returns.
 *
 * - A worker leaves (the primary closes its membership when it exits; over etcd, its lease
 *   lapses). Every store it held then (`owners/stores/<home>`: its own, and any it was serving)
 *   is an orphan, at that exact epoch. One live sibling per store (preferred by the store's
 *   hash among the live siblings, so they agree without talking) claims it, raising the epoch,
 *   opens the SQLite file with that epoch as its fence (SqliteWriter.StoreFence: from then on
 *   a write by any older holder fails; segment-file writes hold the same fence), then the
 *   segment files if any (recovery cuts a torn tail), and takes the store's partition
 *   leaderships as `<self>@<home>` (a new leader epoch: Kafka clients refresh and come here).
 * - Kafka requests for those partitions go to that store's log (routedLog.ts); records
 *   produced there reach MQTT subscribers as copies (the engine's log references are to this
 *   node's own log).
 * - The home worker restarts: it claims its store before its storage opens (storeOwnership.ts),
 *   which fences this node's writes and makes it let go (it sees the store's new owner), and
 *   claims its leaderships back; what this node committed is in the file it recovers.
 *
 * Partitions of topics kept in memory stay unavailable until their worker is back. Nothing here
 * runs on a single node or without `--workers`.
 */
import { Effect, Exit, Scope, Stream } from "effect"
import { partitionOf, streamOf, type TopicPartition, topicPartition } from "../../../domain/ids.js"
import type { TopicPoliciesService } from "../../../layers/TopicPolicies.js"
import type { CoordinationService, Ownership } from "../../../services/Coordination.js"
import type { StorageError } from "../../../services/errors.js"
import type { MessageLog } from "../../../services/MessageLog.js"
import type { StoreFence } from "../../../layers/storage-sqlite/SqliteWriter.js"
import type { IdempotentProducers } from "../../kafka/IdempotentProducers.js"
import type { ClusterNodeService } from "../ClusterNode.js"
import { OwnershipView } from "../kafka/OwnershipView.js"
import type { PartitionLeaders } from "../kafka/PartitionLeaders.js"
import { adoptedOwner, dataHome, fnv1a, preferredSlotOwner } from "../kafka/placement.js"
import { type AdoptedStore, STORES, storeKey } from "./storeOwnership.js"
import { siblingDataDir } from "./workerConfig.js"

type Log = MessageLog["Type"]

/** How often the stores and leaderships are checked even when nothing was heard to change. */
const RECHECK_MS = 2000

interface Adopted {
  readonly home: string
  readonly epoch: number
  readonly dir: string
  readonly log: Log
  readonly store: AdoptedStore
  readonly scope: Scope.CloseableScope
  /** A write found its home's newer epoch: it is back, and this node lets go at its next check. */
  fenced: boolean
}

/**
 * Runs in an adopted store's scope while it is held here (closed when this node lets go):
 * GhostRemnants. `gone`: true once the store's home has written it again.
 */
export type WhileHeld = (home: string, store: AdoptedStore, gone: () => boolean) => Effect.Effect<void, never, Scope.Scope>

/** The Kafka side of a take-over: the dead worker's partition leaderships, and where requests for them go. */
export interface KafkaTakeOver {
  readonly leaders: PartitionLeaders
  readonly policies: TopicPoliciesService
  /** Idempotent-producer state, read again from the serving log when a partition changes logs. */
  readonly producers: IdempotentProducers
  /** This node's own log. */
  readonly local: Log
  /** Partition -> the adopted log serving it here, shared with routedLog. */
  readonly served: Map<TopicPartition, Log>
}

export interface AdoptionOptions {
  readonly node: ClusterNodeService
  readonly coordination: CoordinationService
  /** Null without a Kafka listener: the stores are still taken over, for what their sessions owe (GhostRemnants). */
  readonly kafka: KafkaTakeOver | null
  /** This worker's data directory (its siblings' are next to it). */
  readonly dataDir: string
  /** Opens the message log and event store of a data directory, fenced (storeOwnership.openStore). */
  readonly open: (dir: string, fence: StoreFence) => Effect.Effect<AdoptedStore, StorageError, Scope.Scope>
}

/** `<topic>/<partition>` (a leadership key) as the log's partition id. */
const tpOfKey = (key: string): TopicPartition => {
  const slash = key.lastIndexOf("/")
  return topicPartition(key.slice(0, slash), Number(key.slice(slash + 1)))
}

export class StoreAdoption {
  readonly stores = new OwnershipView(STORES)
  private readonly held = new Map<string, Adopted>()
  /** Stores held by a node as it left, at that epoch: adopted unless someone took them since. */
  private readonly orphans = new Map<string, Ownership>()
  private whileHeld: WhileHeld | null = null

  constructor(private readonly o: AdoptionOptions) {
    // Synchronously with each leadership change, so no request sees a partition led here
    // before it is routed to the right log (or after it no longer is).
    o.kafka?.leaders.view.onChange((key) => (key === "" ? this.routeAll() : this.route(key)))
  }

  /** Hot path (Kafka Produce): whether partition `tp` is served here from a sibling's store. */
  serves(tp: TopicPartition): boolean {
    const served = this.o.kafka?.served
    return served !== undefined && served.size > 0 && served.has(tp)
  }

  /** Whether `home`'s data directory is open here (PartitionLeaders serves `<self>@<home>` then). */
  holds(home: string): boolean {
    return this.held.has(home)
  }

  /** Runs `work` for each store held here, now and from now on (set once, by the cluster layer). */
  serveWhileHeld(work: WhileHeld): Effect.Effect<void> {
    this.whileHeld = work
    return Effect.forEach([...this.held.values()], (a) => this.startWhileHeld(a), { discard: true })
  }

  private startWhileHeld(a: Adopted): Effect.Effect<void> {
    const work = this.whileHeld
    return work === null ? Effect.void : Scope.extend(work(a.home, a.store, () => a.fenced), a.scope)
  }

  /** Follows stores, leaderships and members; runs until the scope closes (fork it). */
  run(): Effect.Effect<never, never, Scope.Scope> {
    const { node, coordination } = this.o
    return Effect.gen(this, function*() {
      const wake = yield* Effect.makeLatch(false)
      const poke = () => wake.unsafeOpen()
      this.stores.onChange(poke)
      this.o.kafka?.leaders.view.onChange(poke)
      yield* Effect.forkScoped(this.stores.follow(coordination))
      yield* Effect.forkScoped(Stream.runForEach(node.changes, (e) =>
        Effect.sync(() => {
          if (e._tag === "Left") for (const [home, o] of this.stores.owners) if (o.owner === e.id) this.orphans.set(home, o)
          poke()
        })))
      yield* Effect.addFinalizer(() => Effect.forEach([...this.held.values()], (a) => this.letGo(a), { discard: true }))
      return yield* Effect.forever(Effect.gen(this, function*() {
        yield* Effect.timeout(wake.await, RECHECK_MS).pipe(Effect.ignore)
        wake.unsafeClose()
        yield* this.reconcile()
      }))
    }).pipe(Effect.catchAllCause((cause) => Effect.zipRight(Effect.logError("workers: store take-over loop failed", cause), Effect.never)))
  }

  private reconcile(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const { node, kafka } = this.o
      const me = node.id
      if (node.membership() === null || !this.stores.ready || (kafka !== null && !kafka.leaders.view.ready)) return
      // A store taken from this node (its home is back, or it was fenced): let go at once.
      for (const a of [...this.held.values()]) {
        const now = this.stores.get(a.home)
        if (now === undefined || now.owner !== me || now.epoch !== a.epoch) yield* this.letGo(a)
      }
      yield* this.adoptOrphans()
      if (kafka !== null) yield* this.claimLeaderships(kafka)
    })
  }

  /** Leaderships: back to this node for its own data, to `<me>@<home>` for the data held here. */
  private claimLeaderships({ leaders, policies }: KafkaTakeOver): Effect.Effect<void> {
    const me = this.o.node.id
    const ownStore = this.stores.get(me)?.owner === me
    const claims: Array<Effect.Effect<unknown, unknown>> = []
    for (const [key, o] of leaders.view.owners) {
      const home = dataHome(o.owner)
      if (home === me) {
        if (o.owner !== me && ownStore) claims.push(leaders.claim(key, me, o.epoch))
      } else if (this.held.has(home)) {
        const want = adoptedOwner(me, home)
        if (o.owner !== want && policies.storageFor(streamOf(tpOfKey(key))) !== "memory") claims.push(leaders.claim(key, want, o.epoch))
      }
    }
    return claims.length === 0 ? Effect.void : Effect.forEach(claims, (c) => Effect.ignore(c), { concurrency: 8, discard: true })
  }

  private adoptOrphans(): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const { node, dataDir } = this.o
      const me = node.id
      const siblings = node.members().map((m) => m.id).filter((id) => id === me || siblingDataDir(me, dataDir, id) !== null)
      for (const [home, left] of [...this.orphans]) {
        const now = this.stores.get(home)
        const dir = siblingDataDir(me, dataDir, home)
        // Taken since, its holder back, or not a sibling's: nothing to do.
        if (now?.owner !== left.owner || now.epoch !== left.epoch || node.member(left.owner) !== undefined || dir === null) {
          this.orphans.delete(home)
          continue
        }
        // Another sibling's to take (if it leaves too, the orphan is still here for the next pick).
        if (preferredSlotOwner(siblings, fnv1a(home)) !== me) continue
        this.orphans.delete(home)
        yield* this.adopt(home, left, dir)
      }
    })
  }

  private adopt(home: string, left: Ownership, dir: string): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      const claimed = yield* Effect.either(this.o.coordination.claim(storeKey(home), this.o.node.id, left.epoch))
      if (claimed._tag === "Left") return yield* Effect.logWarning(`workers: ${home} is down, but its data directory could not be claimed (${claimed.left._tag}); it waits for ${home}`)
      const epoch = claimed.right.epoch
      const scope = yield* Scope.make()
      let adopted: Adopted | undefined
      const onFenced = (current: number) => {
        if (adopted === undefined || adopted.fenced) return
        adopted.fenced = true
        console.error(`workers: ${home} took its data directory back (store epoch ${current}, this node's ${epoch}): this node's writes to it stop, and ${home} goes on from what it holds`)
      }
      const opened = yield* Effect.either(Scope.extend(this.o.open(dir, { epoch, onFenced }), scope))
      if (opened._tag === "Left") {
        yield* Scope.close(scope, Exit.void)
        return yield* Effect.logWarning(`workers: ${home} is down, but ${dir} could not be opened here (${opened.left.message}); its partitions wait for ${home}`)
      }
      adopted = { home, epoch, dir, log: opened.right.log, store: opened.right, scope, fenced: false }
      this.held.set(home, adopted)
      this.routeAll()
      yield* Effect.log(`workers: ${home} is down: serving ${this.o.kafka === null ? "what its sessions owe" : "its Kafka partitions"} from ${dir} (store epoch ${epoch}) until it is back`)
      yield* this.startWhileHeld(adopted)
    })
  }

  /** Stops serving `a` here and closes its file (its writes are fenced already if its home took it back). */
  private letGo(a: Adopted): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      this.held.delete(a.home)
      this.routeAll()
      yield* Scope.close(a.scope, Exit.void)
      yield* Effect.log(`workers: ${a.home}'s data directory (${a.dir}) handed on; its partitions are no longer served here`)
    })
  }

  private routeAll(): void {
    const kafka = this.o.kafka
    if (kafka === null) return
    for (const key of kafka.leaders.view.owners.keys()) this.route(key)
    for (const tp of [...kafka.served.keys()]) {
      const key = `${streamOf(tp)}/${partitionOf(tp)}`
      if (!kafka.leaders.view.owners.has(key)) this.route(key)
    }
  }

  /** Points the partition at `key` at the log serving it here, and its producer state at that log. */
  private route(key: string): void {
    const kafka = this.o.kafka
    if (kafka === null) return
    const o = kafka.leaders.view.get(key)
    const tp = tpOfKey(key)
    const a = o === undefined ? undefined : this.held.get(dataHome(o.owner))
    const log = o !== undefined && a !== undefined && o.owner === adoptedOwner(this.o.node.id, a.home) ? a.log : undefined
    if (kafka.served.get(tp) === log) return
    if (log === undefined) kafka.served.delete(tp)
    else kafka.served.set(tp, log)
    kafka.producers.reload(tp, (log ?? kafka.local).unsafeEndOffset(tp))
  }
}
