/**
 * The ownerships under one prefix (`owners/<prefix>...` in the coordination service), folded
 * from a listing and a watch resumed by revision; a broken watch lists again. Read synchronously
 * on the request path (a Map lookup); `onChange` runs after each change is applied.
 */
import { Effect, Stream } from "effect"
import { type CoordinationService, type KeyChange, type Ownership, OWNERS_PREFIX, parseOwnership } from "../../../services/Coordination.js"

export class OwnershipView {
  /** Key (without `owners/<prefix>`) -> its ownership. */
  readonly owners = new Map<string, Ownership>()
  /** Listed at least once: until then, absent keys mean nothing. */
  ready = false
  private readonly listeners: Array<(key: string) => void> = []

  constructor(readonly prefix: string) {}

  onChange(listener: (key: string) => void): void {
    this.listeners.push(listener)
  }

  get(key: string): Ownership | undefined {
    return this.owners.get(key)
  }

  /** Follows the coordination service for ever (fork it in a scope). */
  follow(coordination: CoordinationService): Effect.Effect<never> {
    const full = OWNERS_PREFIX + this.prefix
    const loop = Effect.gen(this, function*() {
      const { entries, revision } = yield* coordination.list(full)
      const seen = new Set<string>()
      for (const e of entries) {
        const key = e.key.slice(full.length)
        seen.add(key)
        this.put(key, e.value)
      }
      for (const key of [...this.owners.keys()]) if (!seen.has(key)) this.remove(key)
      if (!this.ready) {
        this.ready = true
        for (const l of this.listeners) l("")
      }
      yield* Stream.runForEach(coordination.watch(full, revision), (change: KeyChange) =>
        Effect.sync(() => {
          const key = change.key.slice(full.length)
          if (change._tag === "Put") this.put(key, change.value)
          else this.remove(key)
        }))
    })
    // A broken watch (or one that ended) lists again.
    return loop.pipe(
      Effect.catchAll((e) => Effect.zipRight(Effect.logWarning(`cluster: watch of ${full} broke (${e.message}); listing again`), Effect.sleep("500 millis"))),
      Effect.forever
    )
  }

  private put(key: string, value: string): void {
    const o = parseOwnership(value)!
    const before = this.owners.get(key)
    if (before !== undefined && before.owner === o.owner && before.epoch === o.epoch) return
    this.owners.set(key, o)
    for (const l of this.listeners) l(key)
  }

  private remove(key: string): void {
    if (!this.owners.delete(key)) return
    for (const l of this.listeners) l(key)
  }
}
