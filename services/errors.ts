/**
 * Infrastructure failures on control paths. Protocol outcomes are reason codes (numbers), not
 * errors; bugs are defects. See DESIGN.md section 7.
 */
import { Data, Schema } from "effect"

/** Can reach the admin API or a log line: Schema, so it encodes. */
export class StorageError extends Schema.TaggedError<StorageError>()("StorageError", {
  op: Schema.Literal("open", "write", "read", "recover", "snapshot"),
  path: Schema.optional(Schema.String),
  cause: Schema.Defect
}) {
  /** One readable line for an operator (start-up failures print exactly this). */
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `storage ${this.op} failed${this.path === undefined ? "" : ` (${this.path})`}: ${cause}`
  }
}

/** Optimistic concurrency failure on an event stream append. In-process only. */
export class VersionConflict extends Data.TaggedError("VersionConflict")<{
  readonly stream: string
  readonly expected: number
  readonly actual: number
}> {}
