/**
 * Debug lines from synchronous connection code (accepted, CONNECT, CONNACK, login decisions,
 * closed): a function when the minimum log level (log.level) lets debug lines through, else
 * null. At info level a connection pays one null check and builds no string, since
 * `debug?.(`...`)` does not evaluate its argument when `debug` is null.
 *
 * What goes in is for operators: addresses, client ids, user names and outcomes. Never a
 * password, token, key or anything derived from one.
 */
import { Effect, FiberRef, LogLevel, Runtime } from "effect"

export type DebugLog = ((line: string) => void) | null

/** Reads the level of the fiber building the service: the level the broker was started with. */
export const makeDebugLog: Effect.Effect<DebugLog> = Effect.gen(function*() {
  const level = yield* FiberRef.get(FiberRef.currentMinimumLogLevel)
  if (LogLevel.greaterThan(level, LogLevel.Debug)) return null
  const runSync = Runtime.runSync(yield* Effect.runtime<never>())
  return (line: string) => runSync(Effect.logDebug(line))
})
