/**
 * Builders for the admin CLI's commands over the API, so each command is a line or two: a list
 * (server-side filters, `--limit`, `--cursor`, the next cursor printed), a show (one object as
 * `key  value` lines) and an action (a request and one line saying what happened). `--output
 * json` prints the server's JSON as it came.
 */
import { Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { type Connection, connectionOptions, type Query, request, AdminError } from "./AdminClient.js"
import { type Column, type OutputFormat, renderFields, renderTable } from "./output.js"

export interface Page {
  readonly items: ReadonlyArray<Record<string, unknown>>
  readonly nextCursor: string | undefined
}

/** The rows and next cursor of a list answer (`{ items, nextCursor }`). */
export const pageOf = (body: unknown): Page => {
  if (Array.isArray(body)) return { items: body as Array<Record<string, unknown>>, nextCursor: undefined }
  const b = (body ?? {}) as { items?: unknown; nextCursor?: unknown }
  const items = Array.isArray(b.items) ? (b.items as Array<Record<string, unknown>>) : []
  return { items, nextCursor: typeof b.nextCursor === "string" && b.nextCursor !== "" ? b.nextCursor : undefined }
}

export const printJson = (body: unknown) => Console.log(JSON.stringify(body ?? null, null, 2))

const optionalText = (name: string, pseudo: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudo), Options.withDescription(description), Options.optional)

const limit = optionalText("limit", "N", "at most N rows (the server caps it)")
const cursor = optionalText("cursor", "CURSOR", "the page after this cursor (a list prints the next one)")

/** A filter flag: `--<flag> VALUE` sent as query parameter `param`. */
export interface Filter {
  readonly flag: string
  readonly param: string
  readonly description: string
}

type FilterValues = Record<string, Option.Option<string>>

const filterOptions = (filters: ReadonlyArray<Filter>) =>
  Object.fromEntries(filters.map((f) => [f.flag, optionalText(f.flag, "VALUE", f.description)])) as Record<string, Options.Options<Option.Option<string>>>

const queryOf = (filters: ReadonlyArray<Filter>, values: FilterValues): Query =>
  Object.fromEntries(filters.map((f) => [f.param, Option.getOrUndefined(values[f.flag] ?? Option.none())]))

const positiveInt = (flag: string, text: string): Effect.Effect<number, AdminError> =>
  /^[1-9]\d*$/.test(text.trim())
    ? Effect.succeed(Number(text.trim()))
    : Effect.fail(new AdminError(`--${flag} must be a whole number of 1 or more, got ${JSON.stringify(text)}`))

export interface ListSpec {
  readonly name: string
  readonly description: string
  readonly path: string
  readonly filters?: ReadonlyArray<Filter>
  readonly columns: ReadonlyArray<Column<Record<string, unknown>>>
  /** Whether the route pages (`--limit`, `--cursor`); default true. */
  readonly paged?: boolean
  readonly empty?: string
}

/** `NAME [--filter V ...] [--limit N] [--cursor C]`: a table of the rows, then the next cursor if any. */
export const listCommand = (spec: ListSpec) => {
  const filters = spec.filters ?? []
  const paging: Record<string, Options.Options<Option.Option<string>>> = spec.paged === false ? {} : { limit, cursor }
  return Command.make(
    spec.name,
    { ...connectionOptions, paging: Options.all(paging), filters: Options.all(filterOptions(filters)) },
    (flags) =>
      Effect.gen(function*() {
        const pageFlags = flags.paging as FilterValues
        const limitFlag = pageFlags["limit"] ?? Option.none()
        const query: Query = {
          ...queryOf(filters, flags.filters as FilterValues),
          limit: Option.isSome(limitFlag) ? yield* positiveInt("limit", limitFlag.value) : undefined,
          cursor: Option.getOrUndefined(pageFlags["cursor"] ?? Option.none())
        }
        const body = yield* request(flags, "GET", spec.path, { query })
        if (flags.output === "json") return yield* printJson(body)
        const page = pageOf(body)
        if (page.items.length === 0) yield* Console.log(spec.empty ?? "(none)")
        else yield* Console.log(renderTable(spec.columns, page.items))
        if (page.nextCursor !== undefined) yield* Console.log(`more: --cursor ${page.nextCursor}`)
      })
  ).pipe(Command.withDescription(spec.description))
}

/** Runs `effect` with the connection flags and the output format of a command. */
export type ApiFlags = Connection & { readonly output: OutputFormat }

/** Prints one object: JSON, or `key  value` lines of the fields picked by `fields`. */
export const printObject = (
  output: OutputFormat,
  body: unknown,
  fields: (body: Record<string, unknown>) => ReadonlyArray<readonly [string, unknown]>
) => output === "json" ? printJson(body) : Console.log(renderFields(fields((body ?? {}) as Record<string, unknown>)))

/** Every top-level field in order: the default for a show. */
export const allFields = (body: Record<string, unknown>): ReadonlyArray<readonly [string, unknown]> => Object.entries(body)

/** Path segment for an id typed by the operator (client ids may hold `/`, `#`, spaces). */
export const segment = (id: string): string => encodeURIComponent(id)
