/**
 * A TCP relay on a free loopback port in front of a real server, which a test can cut (every
 * connection reset, new ones refused) and restore: a network partition between one client and
 * the server, with both still running.
 */
import { createConnection, createServer, type Socket } from "node:net"

export interface TcpProxy {
  readonly port: number
  /** Resets every relayed connection and refuses new ones until `restore`. */
  cut(): void
  restore(): void
  close(): Promise<void>
}

export const startTcpProxy = (target: { readonly host: string; readonly port: number }): Promise<TcpProxy> => {
  const open = new Set<Socket>()
  let cutOff = false
  const server = createServer((inbound) => {
    if (cutOff) return void inbound.resetAndDestroy()
    const outbound = createConnection(target)
    open.add(inbound).add(outbound)
    const drop = () => {
      open.delete(inbound)
      open.delete(outbound)
      inbound.destroy()
      outbound.destroy()
    }
    inbound.on("error", drop).on("close", drop)
    outbound.on("error", drop).on("close", drop)
    inbound.pipe(outbound).pipe(inbound)
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as { port: number }).port,
        cut: () => {
          cutOff = true
          for (const s of open) s.resetAndDestroy()
          open.clear()
        },
        restore: () => {
          cutOff = false
        },
        close: () => {
          for (const s of open) s.destroy()
          return new Promise((r) => server.close(() => r()))
        }
      })
    })
  })
}
