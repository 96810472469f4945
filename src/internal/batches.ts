/**
 * `work` on every item, `size` at a time: file system round trips overlap, and a long list never
 * opens more than `size` files at once. Results keep the items' order.
 */
export async function inBatches<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += size) results.push(...(await Promise.all(items.slice(i, i + size).map(work))));
  return results;
}
