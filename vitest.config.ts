import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "console/**/*.test.ts"],
    benchmark: { include: ["test/bench/**/*.bench.ts"] },
    testTimeout: 30_000,
    // Broker processes the tests start open their HTTP listener on a free loopback port, never 8080.
    env: { ROBUSTMQ_HTTP_HOST: "127.0.0.1", ROBUSTMQ_HTTP_PORT: "0" },
    hookTimeout: 30_000,
    // Broker tests open real sockets and SQLite files; two cores run two forks well.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } }
  }
})
