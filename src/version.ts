/** The broker's version, shown by `robustmq --version` and in `$SYS/broker/version`. Kept equal to package.json by test/cli/version.test.ts. */
export const VERSION = "0.1.0"
