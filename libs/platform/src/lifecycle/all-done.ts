/**
 * The results of `works`, once every one of them is over; the first failure (in their order) if any failed. Unlike
 * Promise.all, which rejects at the first failure while the others still run: a caller retrying the whole (a consumer
 * redelivering its message) must not start again beside work of its first try still under way.
 */
export async function allDone<T>(works: Array<Promise<T>>): Promise<T[]> {
  const outcomes = await Promise.allSettled(works);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<T>).value);
}
