/** A port on 127.0.0.1 where nothing listens now (bound, then released): for a server a test starts itself. */
import { createServer } from "node:net"

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

const listenable = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer()
    s.once("error", () => resolve(false))
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)))
  })

/** A free port whose next `n - 1` are free too (under `--workers n`, worker i serves HTTP on base + i). */
export const freeRun = async (n: number): Promise<number> => {
  for (;;) {
    const p = await freePort()
    let all = p + n - 1 <= 65535
    for (let i = 1; all && i < n; i++) all = await listenable(p + i)
    if (all) return p
  }
}

/** A free port whose next one is free too (under `--workers 2`, worker i serves HTTP on base + i). */
export const freePair = async (): Promise<number> => {
  for (;;) {
    const p = await freePort()
    if (p < 65535 && (await listenable(p + 1))) return p
  }
}
