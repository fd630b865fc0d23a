/**
 * Where the broker is in its life, for `/health/ready`: starting (storage replaying, listeners
 * not yet accepting), ready, or stopping (a shutdown began). The HTTP listener opens before
 * storage, so a probe sees 503 during a long replay instead of a refused connection.
 */
import { Context, Effect, Layer } from "effect"

export type Phase = "starting" | "ready" | "stopping"

export interface ReadinessState {
  phase: Phase
}

export class Readiness extends Context.Tag("broker/Readiness")<Readiness, ReadinessState>() {}

export const layer: Layer.Layer<Readiness> = Layer.sync(Readiness, () => ({ phase: "starting" as Phase }))

/**
 * Built after every listener: marks the broker ready, and on release (the first step of a
 * shutdown, since it was built last) stopping, before any listener closes.
 */
export const markReady: Layer.Layer<never, never, Readiness> = Layer.scopedDiscard(
  Effect.flatMap(Readiness, (state) =>
    Effect.acquireRelease(
      Effect.sync(() => {
        state.phase = "ready"
      }),
      () =>
        Effect.sync(() => {
          state.phase = "stopping"
        })
    ))
)
