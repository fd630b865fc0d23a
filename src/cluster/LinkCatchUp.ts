/**
 * QoS 1/2 across nodes when links drop or nodes restart: wires LinkProgress (what this node
 * holds of each other node's log, saved) and CatchUpReplay (answering others) to the engine
 * and the node link. Forwarded batches come in here; gaps go out as CATCHUP requests; every
 * connected peer hears its coverage twice a second even without traffic; the progress is saved
 * once a second, after this node's log is flushed, so it never claims what a crash could lose.
 */
import { Effect, Runtime, Schedule } from "effect"
import type { TopicPartition } from "../../domain/ids.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import { replay } from "./CatchUpReplay.js"
import type { KafkaBridge } from "./kafka/KafkaBridge.js"
import { type CatchUp, encodeCatchUp, encodeStored, type Forwarded, type PublishBatch } from "./linkFrames.js"
import { type Gap, LinkProgress, type SavedProgress } from "./LinkProgress.js"
import type { NodeLink } from "./NodeLink.js"

const SNAPSHOT = "cluster-link-progress"
const HEARTBEAT = "500 millis"
const SAVE_EVERY = "1 second"
/** Catch-up answers served at once: each reads the log and fills the link; the rest wait their turn. */
const CONCURRENT_ANSWERS = 4

const NOTHING = () => {}

export class LinkCatchUp {
  private link: NodeLink | null = null
  private saved = ""
  private readonly answering = Effect.unsafeMakeSemaphore(CONCURRENT_ANSWERS)
  /** Catch-ups answered and asked for, for the cluster status. */
  readonly stats = { asked: 0, answered: 0, replayed: 0 }

  private constructor(
    private readonly engine: Engine,
    private readonly progress: LinkProgress,
    private readonly runtime: Runtime.Runtime<never>,
    /** Each message delivered here also goes on to a session that just moved away (MovedRoutes). */
    private readonly relay: (f: Forwarded, from: string, revision: number) => void,
    /** Null without a Kafka listener; else a requester leading the partition gets all of the range. */
    private readonly bridge: KafkaBridge | null
  ) {}

  static make(
    engine: Engine,
    relay: (f: Forwarded, from: string, revision: number) => void,
    bridge: KafkaBridge | null
  ): Effect.Effect<LinkCatchUp> {
    return Effect.gen(function*() {
      const snap = yield* engine.store.loadSnapshot(SNAPSHOT).pipe(
        Effect.catchAll((error) => Effect.as(Effect.logWarning("cluster: reading the link progress failed; catch-ups start from now", error), undefined))
      )
      const runtime = yield* Effect.runtime<never>()
      const data = snap?.data
      return new LinkCatchUp(engine, new LinkProgress(typeof data === "object" && data !== null ? (data as SavedProgress) : {}), runtime, relay, bridge)
    })
  }

  /** The link, once made (the link's callbacks come here). */
  attach(link: NodeLink): void {
    this.link = link
    this.engine.log.unsafeOnPass(() => this.takingPass())
  }

  /** Senders whose batches arrived since the last group commit began: each is told what it made durable. */
  private readonly unstored = new Set<string>()
  /** A group commit failed: what arrived may not be durable, so no STORED claims it in this run. */
  private storeFailed = false

  /**
   * A group commit takes what was appended: everything that arrived from the senders before now
   * is in it or in an earlier one. Once it is written, each sender learns it (STORED), before
   * the QoS 2 deliveries that commit allows go out, so if this node dies a sender knows what
   * it held (SessionCatchUp leaves that to its remnant instead of sending it again).
   */
  private takingPass(): ((ok: boolean) => void) | null {
    if (this.unstored.size === 0 || this.storeFailed) return null
    const taken = [...this.unstored].map((node) => [node, this.progress.safeOf(node)] as const)
    this.unstored.clear()
    return (ok) => {
      if (!ok) {
        this.storeFailed = true
        return
      }
      for (const [node, positions] of taken) this.link?.sendNow(node, encodeStored(positions))
    }
  }

  /** Hot path: a batch another node forwarded, or (replay) part of the answer to a catch-up. */
  onForwarded(from: string, batch: PublishBatch, isReplay: boolean): void {
    const engine = this.engine
    // A pass comes with the next append; one that appends nothing (coverage alone) asks for it,
    // so an idle node's senders still learn how far it is (their retention waits on it).
    if (this.unstored.size === 0) engine.log.unsafeAfterNextPass(NOTHING)
    this.unstored.add(from)
    if (isReplay) {
      for (const f of this.progress.replayed(from, batch.messages, batch.coverage)) {
        engine.publishReplayed(f.message, f.groups)
        this.relay(f, from, -1)
      }
      return
    }
    // Coverage first: it may say the messages of this batch come again in a replay.
    const gaps = batch.coverage.length === 0 ? null : this.progress.covered(from, batch.coverage)
    for (const f of batch.messages) {
      if (!this.progress.admit(from, f)) continue
      engine.publishForwarded(f.message, f.groups)
      this.relay(f, from, batch.revision)
    }
    if (gaps !== null) for (const gap of gaps) this.ask(gap)
  }

  /** Whether `node`'s record at (`tp`, `offset`) reaches this node's routes by the link (LinkProgress.willReplay). */
  willReplay(node: string, tp: string, offset: number): boolean {
    return this.progress.willReplay(node, tp, offset)
  }

  /** `node` left the cluster: its run of batches is over (LinkProgress.endRun). */
  nodeLeft(node: string): void {
    this.progress.endRun(node)
  }

  /** Plain filters and `$share/<group>/<filter>` keys: the sender replays its share-group picks of this node too. */
  private ask(gap: Gap): void {
    const filters = this.engine.subscriptions.routeKeys()
    this.stats.asked++
    this.link?.sendControl(gap.node, encodeCatchUp({ tp: gap.tp, from: gap.from, to: gap.to, filters }))
  }

  onCatchUp(from: string, request: CatchUp): void {
    const link = this.link
    if (link === null) return
    this.stats.answered++
    // This node's leader view, not the requester's: a requester just restarted asks before its
    // own view is listed, while this one has been following etcd (or waits for its first listing).
    const bridge = this.bridge
    const whole = bridge === null
      ? Effect.succeed(false)
      : Effect.map(bridge.awaitReady, () => bridge.leads(from, request.tp as TopicPartition))
    const work = Effect.flatMap(whole, (all) => replay(this.engine.log, this.engine.mapping, link, from, request, undefined, all)).pipe(
      Effect.tap((r) => {
        this.stats.replayed += r.sent
        return Effect.logInfo(`cluster: caught ${from} up on ${request.tp} [${request.from}, ${request.to}): ${r.sent} message(s)${r.complete ? "" : "; the link dropped, it will ask again"}`)
      }),
      Effect.catchAll((error) => Effect.logWarning(`cluster: catching ${from} up on ${request.tp} failed; it asks again on its next link`, error)),
      this.answering.withPermits(1)
    )
    Runtime.runFork(this.runtime)(work)
  }

  /**
   * Where this node stands in every other node's log (and its own log's ends, under its own id):
   * what arrives from here on reaches a session stored now.
   */
  arrived(self: string): SavedProgress {
    return { ...this.progress.positions(), [self]: Object.fromEntries(this.engine.backlog.ends()) }
  }

  /** Runs for the node's life: heartbeats to the other members, and the progress saved. */
  run(others: () => ReadonlyArray<string>): Effect.Effect<void> {
    const heartbeat = Effect.sync(() => this.link?.heartbeat(others())).pipe(Effect.repeat(Schedule.spaced(HEARTBEAT)))
    const save = this.save.pipe(
      Effect.catchAll((error) => Effect.logWarning("cluster: saving the link progress failed; retrying", error)),
      Effect.repeat(Schedule.spaced(SAVE_EVERY))
    )
    return Effect.all([heartbeat, save], { concurrency: "unbounded", discard: true })
  }

  /** Saves what is safe now, once the log holds everything delivered up to here. */
  get save() {
    return Effect.gen(this, function*() {
      const data = this.progress.snapshot()
      const text = JSON.stringify(data)
      if (text === this.saved) return
      yield* this.engine.log.flush
      yield* this.engine.store.saveSnapshot(SNAPSHOT, { position: 0, data })
      this.saved = text
    })
  }
}
