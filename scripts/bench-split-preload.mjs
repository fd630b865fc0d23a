// Preload for ../shared/bench/mqtt-bench.mjs (node --import): the bench opens its subscribers'
// connections first, then its publishers'; this sends the first $BENCH_SUBS connections to
// $BENCH_SUB_PORT and the rest where the bench says, so publishers and subscribers sit on two
// different nodes of a cluster without changing the shared tool.
import net from "node:net"

const subPort = Number(process.env.BENCH_SUB_PORT)
let subsLeft = Number(process.env.BENCH_SUBS ?? 0)
const connect = net.connect
net.connect = function (options, ...rest) {
  if (subsLeft > 0 && typeof options === "object" && options !== null) {
    subsLeft--
    return connect.call(this, { ...options, port: subPort }, ...rest)
  }
  return connect.call(this, options, ...rest)
}
