/**
 * What every gate does first: split a request's items (topics, groups, resources) into those the
 * principal may act on and those it may not, keeping their order. The gates then run the
 * handler on the allowed part only and add an authorization error per refused item, as Kafka's
 * KafkaApis does; a request with nothing allowed never reaches its handler.
 */
export interface Split<A> {
  readonly allowed: Array<A>
  readonly denied: Array<A>
}

export const split = <A>(items: ReadonlyArray<A>, may: (item: A) => boolean): Split<A> => {
  const allowed: Array<A> = []
  const denied: Array<A> = []
  for (const item of items) (may(item) ? allowed : denied).push(item)
  return { allowed, denied }
}
