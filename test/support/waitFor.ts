/**
 * Polls `check` every `everyMs` until it holds; rejects after `ms` naming `what` (and the last
 * error, if the check threw: a node answers 503 while its storage replays, a process is not
 * listening yet, so a throw counts as "not yet"). The cluster tests' one way to wait.
 */
export const waitFor = async (what: string, check: () => Promise<boolean> | boolean, ms = 15_000, everyMs = 20): Promise<void> => {
  const deadline = Date.now() + ms
  let lastError: unknown = null
  for (;;) {
    try {
      if (await check()) return
    } catch (e) {
      lastError = e
    }
    if (Date.now() > deadline) {
      const why = lastError === null ? "" : ` (last check threw: ${lastError instanceof Error ? lastError.message : String(lastError)})`
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
