/**
 * Messages between the primary and its workers (`robustmq start --workers N`) over Node's IPC
 * channel: the workers' Coordination calls, served by the primary (coordinationHost.ts) and
 * made by each worker (ipcCoordination.ts), plus the primary's own orders. Everything is JSON.
 */
import type { KeyWrite, MemberInfo, Ownership } from "../../../services/Coordination.js"

/** Every message of this protocol carries `rmq: "coord"`, so other IPC traffic (node:cluster's own) is told apart. */
export const TAG = "coord"

export type WorkerRequest =
  | { readonly rmq: typeof TAG; readonly kind: "call"; readonly id: number; readonly method: string; readonly args: ReadonlyArray<unknown> }
  | { readonly rmq: typeof TAG; readonly kind: "stream"; readonly id: number; readonly method: string; readonly args: ReadonlyArray<unknown> }
  | { readonly rmq: typeof TAG; readonly kind: "cancel"; readonly id: number }
  | { readonly rmq: typeof TAG; readonly kind: "join"; readonly id: number; readonly member: MemberInfo; readonly ttl: number }
  | { readonly rmq: typeof TAG; readonly kind: "write"; readonly id: number; readonly join: number; readonly batch: ReadonlyArray<KeyWrite> }
  | { readonly rmq: typeof TAG; readonly kind: "leave"; readonly id: number; readonly join: number }

/** A failure as it crosses the channel: the tag of the service's error and its fields. */
export type WireError =
  | { readonly tag: "CoordinationError"; readonly op: string; readonly message: string }
  | { readonly tag: "OwnershipConflict"; readonly key: string; readonly current: Ownership | null }
  | { readonly tag: "StreamVersionConflict"; readonly stream: string; readonly expected: number; readonly actual: number }

export type PrimaryMessage =
  /** `map`: the value was a Map, sent as its entries (JSON has no maps). */
  | { readonly rmq: typeof TAG; readonly kind: "result"; readonly id: number; readonly value?: unknown; readonly map?: true; readonly error?: WireError }
  | { readonly rmq: typeof TAG; readonly kind: "item"; readonly id: number; readonly item: unknown }
  | { readonly rmq: typeof TAG; readonly kind: "end"; readonly id: number; readonly error?: WireError }
  | { readonly rmq: typeof TAG; readonly kind: "lost"; readonly join: number }
  /** The whole machine stops: workers do not hand their sessions to each other. */
  | { readonly rmq: typeof TAG; readonly kind: "stopping" }

export const isOurs = (m: unknown): m is { readonly rmq: typeof TAG; readonly kind: string } =>
  typeof m === "object" && m !== null && (m as { rmq?: unknown }).rmq === TAG
