#!/usr/bin/env node
/**
 * The `robustmq` executable. Owns the process: runs src/cli.ts under NodeRuntime.runMain, which
 * interrupts the program on SIGINT/SIGTERM so every layer finalizer runs (stop accepting, close
 * connections, flush, close storage) and then exits 0.
 *
 * Output contract, for operators and scripts:
 * - stdout: logs, one line each: `2025-01-01T12:00:00.000Z INFO MQTT listening on 0.0.0.0:1883`,
 *   annotations appended as key=value (no fiber ids: they mean nothing to an operator).
 *   `ROBUSTMQ_LOG_FORMAT=json|logfmt|pretty` switches to Effect's other loggers; `--log-level`
 *   (or `[log] level`, `ROBUSTMQ_LOG_LEVEL`) sets the minimum level (default info). `robustmq config`
 *   prints its document on stdout too.
 * - stderr: on failure exactly one line, the error's own message (config errors and start-up
 *   errors are written to be read as is), and exit code 1. No stack, no fiber dump: those are for
 *   bugs, and `ROBUSTMQ_DEBUG=1` adds the full cause after the line.
 */
import { ValidationError } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Effect, Inspectable, Logger, Option } from "effect"
import { run } from "./cli.js"

const render = (u: unknown): string => (typeof u === "string" ? u : Inspectable.toStringUnknown(u, 0))

/** `timestamp LEVEL message key=value…`; a logged cause follows on the next lines. */
const terseLogger = Logger.make(({ annotations, cause, date, logLevel, message }) => {
  let line = `${date.toISOString()} ${logLevel.label} ${
    Array.isArray(message) ? message.map(render).join(" ") : render(message)
  }`
  for (const [key, value] of annotations) line += ` ${key}=${render(value)}`
  if (!Cause.isEmpty(cause)) line += `\n${Cause.pretty(cause, { renderErrorCause: true })}`
  globalThis.console.log(line)
})

const loggers = {
  terse: terseLogger,
  json: Logger.withConsoleLog(Logger.jsonLogger),
  logfmt: Logger.withConsoleLog(Logger.logfmtLogger),
  pretty: Logger.prettyLoggerDefault
} as const

const debug = process.env.ROBUSTMQ_DEBUG !== undefined && process.env.ROBUSTMQ_DEBUG !== "" &&
  process.env.ROBUSTMQ_DEBUG !== "0"

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim()

const messageOf = (u: unknown): string | undefined =>
  typeof u === "object" && u !== null && "message" in u && typeof u.message === "string" && u.message !== ""
    ? u.message
    : undefined

/** The single stderr line for a failed run; nothing for an interrupt or an error the CLI printed. */
const describeFailure = (cause: Cause.Cause<unknown>): string | undefined => {
  if (Cause.isInterruptedOnly(cause)) return undefined
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    if (ValidationError.isValidationError(failure.value)) return undefined
    return oneLine(messageOf(failure.value) ?? render(failure.value))
  }
  const defect = Cause.squash(cause)
  const message = messageOf(defect) ?? render(defect)
  return oneLine(`unexpected error: ${message} (a bug; rerun with ROBUSTMQ_DEBUG=1 for the full cause)`)
}

const report = (cause: Cause.Cause<unknown>) =>
  Effect.sync(() => {
    const line = describeFailure(cause)
    if (line === undefined) return
    process.stderr.write(`${line}\n`)
    if (debug) process.stderr.write(`${Cause.pretty(cause, { renderErrorCause: true })}\n`)
  })

const logFormat = process.env.ROBUSTMQ_LOG_FORMAT === undefined || process.env.ROBUSTMQ_LOG_FORMAT === ""
  ? "terse"
  : process.env.ROBUSTMQ_LOG_FORMAT

const program = logFormat in loggers
  ? run(process.argv).pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, loggers[logFormat as keyof typeof loggers]))
  )
  : Effect.fail(
    new Error(`ROBUSTMQ_LOG_FORMAT must be terse, json, logfmt or pretty, got ${JSON.stringify(logFormat)}`)
  )

NodeRuntime.runMain(
  program.pipe(Effect.tapErrorCause(report), Effect.provide(NodeContext.layer)),
  // Reporting is ours (one line); the pretty logger would replace the one chosen above.
  { disableErrorReporting: true, disablePrettyLogger: true }
)
