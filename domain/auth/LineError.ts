/**
 * A problem on one line of an auth file (password file, ACL file). Parsers return every problem
 * they find; the service reports the first with the file name as one line.
 */
export interface LineError {
  /** 1-based. */
  readonly line: number
  readonly message: string
}

export type Parsed<A> =
  | { readonly _tag: "Parsed"; readonly value: A }
  | { readonly _tag: "Invalid"; readonly errors: ReadonlyArray<LineError> }

/** `<file>, line <n>: <message>` for the first error, and how many more there are. */
export const describeLineErrors = (file: string, errors: ReadonlyArray<LineError>): string => {
  const first = errors[0]
  if (first === undefined) return `${file} is invalid`
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? "s" : ""})` : ""
  return `${file}, line ${first.line}: ${first.message}${more}`
}
