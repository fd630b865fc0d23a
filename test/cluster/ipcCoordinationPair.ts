/**
 * A worker's Coordination under `--workers N`, in one process: calls cross a channel (JSON,
 * asynchronous, as Node's IPC is) to the primary's host in front of a memory coordination.
 */
import { Effect, Layer } from "effect"
import * as MemoryCoordination from "../../layers/coordination/memory.js"
import { Coordination } from "../../services/Coordination.js"
import { CoordinationHost } from "../../src/cluster/workers/coordinationHost.js"
import * as IpcCoordination from "../../src/cluster/workers/ipcCoordination.js"

export const ipcPair = Layer.effect(Coordination, Effect.gen(function*() {
  const { service } = yield* MemoryCoordination.make
  const host = new CoordinationHost(service)
  const listeners: Array<(m: unknown) => void> = []
  const primarySide = {
    send: (m: unknown) => void setImmediate(() => listeners.forEach((l) => l(JSON.parse(JSON.stringify(m))))),
    isConnected: () => true
  }
  return IpcCoordination.make({
    send: (m) => void setImmediate(() => host.receive(primarySide, JSON.parse(JSON.stringify(m)))),
    on: (_event, listener) => void listeners.push(listener)
  })
}))
