/**
 * Builders for the admin CLI's commands over the API, so each command is a few lines: a list
 * (server-side filters, `--limit`, `--cursor`, the next cursor printed), and helpers to print
 * one object as `key  value` lines or as JSON. `--output json` prints what the API answered, in
 * the shape its schema encodes.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { type AdminApi, callApi, connectionOptions } from "./AdminClient.js"
import { optionalText, wholeNumber } from "./flags.js"
import { type Column, type OutputFormat, renderFields, renderTable } from "./output.js"

/** A page as every list route answers: `next` is the cursor of the following page, null on the last. */
export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly next: string | null
}

export const printJson = (body: unknown) => Console.log(JSON.stringify(body ?? null, null, 2))

const limit = optionalText("limit", "N", "at most N rows (1-1000, default 100)")
const cursor = optionalText("cursor", "CURSOR", "the page after this cursor (a list prints the next one)")

type Filters = Record<string, Options.Options<Option.Option<unknown>>>
type FilterValues<F extends Filters> = { readonly [K in keyof F]: F[K] extends Options.Options<Option.Option<infer A>> ? A | undefined : never }

export interface PageParams {
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

export interface ListSpec<F extends Filters, A> {
  readonly name: string
  readonly description: string
  readonly filters: F
  readonly columns: ReadonlyArray<Column<A>>
  readonly call: (api: AdminApi, filters: FilterValues<F>, page: PageParams) => Effect.Effect<Page<A>, unknown>
  /** Printed instead of an empty table. */
  readonly empty: string
}

/** `NAME [--filter V ...] [--limit N] [--cursor C]`: a table of the rows, then `more: --cursor C` if there is a next page. */
export const listCommand = <F extends Filters, A>(spec: ListSpec<F, A>) =>
  Command.make(
    spec.name,
    { ...connectionOptions, limit, cursor, filters: Options.all(spec.filters) },
    (flags) =>
      Effect.gen(function*() {
        const page: PageParams = {
          limit: Option.isSome(flags.limit) ? yield* wholeNumber("limit", flags.limit.value) : undefined,
          cursor: Option.getOrUndefined(flags.cursor)
        }
        const values = Object.fromEntries(
          Object.entries(flags.filters as Record<string, Option.Option<unknown>>).map(([k, v]) => [k, Option.getOrUndefined(v)])
        ) as FilterValues<F>
        const result = yield* callApi(flags, (api) => spec.call(api, values, page))
        yield* printPage(flags.output, result, spec.columns, spec.empty)
      })
  ).pipe(Command.withDescription(spec.description))

export const printPage = <A>(output: OutputFormat, page: Page<A>, columns: ReadonlyArray<Column<A>>, empty: string) =>
  Effect.gen(function*() {
    if (output === "json") return yield* printJson(page)
    yield* Console.log(page.items.length === 0 ? empty : renderTable(columns, page.items))
    if (page.next !== null) yield* Console.log(`more: --cursor ${page.next}`)
  })

/** Prints one object: JSON, or `key  value` lines of the fields `fields` picks. */
export const printObject = <A>(output: OutputFormat, body: A, fields: (body: A) => ReadonlyArray<readonly [string, unknown]>) =>
  output === "json" ? printJson(body) : Console.log(renderFields(fields(body)))

/** Every field in order: the default for a show. */
export const allFields = (body: object): ReadonlyArray<readonly [string, unknown]> => Object.entries(body)

/**
 * A path parameter as typed by the operator, percent-encoded: the derived client puts path
 * parameters into the URL as they are, and client ids, group ids and CIDR ranges may hold `/`,
 * `#`, `?` or spaces.
 */
export const pathParam = (value: string): string => encodeURIComponent(value)
