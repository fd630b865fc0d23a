#!/usr/bin/env node
/**
 * Builds the web console (console/) into dist/console: esbuild bundles console/src/main.ts with
 * preact, htm, uPlot and (split off, loaded only by the MQTT client page) mqtt.js's browser build into
 * content-hashed files under dist/console/assets, writes index.html pointing at them, and stores a
 * gzipped copy of every file beside it, so the broker serves precompressed bytes and never
 * compresses per request. Prints the gzipped size of the JavaScript and fails above the budget
 * (200 KB gzipped, issue 10).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import * as esbuild from "esbuild"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const source = join(root, "console")
const out = join(root, "dist", "console")
const assets = join(out, "assets")
const JS_BUDGET_GZIP_BYTES = 200 * 1024

rmSync(out, { recursive: true, force: true })
mkdirSync(assets, { recursive: true })

const result = await esbuild.build({
  entryPoints: { main: join(source, "src", "main.ts") },
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  target: ["es2020"],
  outdir: assets,
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' }
})

// index.html: the template with the entry script and its stylesheet put in.
const entry = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint !== undefined)
if (entry === undefined) throw new Error("esbuild produced no entry point")
const [entryPath, entryOutput] = entry
const url = (file) => "/" + relative(out, join(root, file)).split("\\").join("/")
const tags = [
  entryOutput.cssBundle === undefined ? "" : `<link rel="stylesheet" href="${url(entryOutput.cssBundle)}">`,
  `<script type="module" src="${url(entryPath)}"></script>`
].join("\n    ")
const template = readFileSync(join(source, "index.html"), "utf8")
if (!template.includes("<!-- assets -->")) throw new Error("console/index.html lacks the <!-- assets --> marker")
writeFileSync(join(out, "index.html"), template.replace("<!-- assets -->", tags))

// Precompress everything, and measure the JavaScript.
const rows = []
let jsGzip = 0
for (const dir of [out, assets]) {
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    if (!name.isFile()) continue
    const path = join(dir, name.name)
    const raw = readFileSync(path)
    const gz = gzipSync(raw, { level: 9 })
    writeFileSync(path + ".gz", gz)
    if (name.name.endsWith(".js")) {
      jsGzip += gz.length
      rows.push([relative(out, path), raw.length, gz.length])
    }
  }
}
const kb = (n) => (n / 1024).toFixed(1).padStart(7) + " KB"
for (const [name, raw, gz] of rows.sort((a, b) => b[2] - a[2])) console.log(`console: ${name.padEnd(40)} ${kb(raw)} ${kb(gz)} gzipped`)
console.log(`console: JavaScript ${kb(jsGzip).trim()} gzipped in total (budget ${JS_BUDGET_GZIP_BYTES / 1024} KB)`)
if (jsGzip > JS_BUDGET_GZIP_BYTES) {
  console.error(`console: the JavaScript is over its ${JS_BUDGET_GZIP_BYTES / 1024} KB gzipped budget: drop or lazy-load something`)
  process.exit(1)
}
