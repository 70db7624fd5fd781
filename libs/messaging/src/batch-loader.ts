import type { Model } from 'mongoose';

/**
 * Coalesces single-key reads made at about the same time into one query (the DataLoader pattern): every
 * `load(key)` issued before the next turn of the event loop is answered by one `loadMany(keys)`. Nothing is
 * cached: a load issued after a write is answered by a query issued after that write. Consumers handle many
 * messages concurrently, and each `_id` lookup is a round trip that costs more than the lookup itself (a
 * system call each way, the server's per-command work): 48 concurrent handlers reading the same collection
 * cost one command instead of 48.
 */
export class BatchLoader<K, V> {
  private queue = new Map<K, Array<{ resolve: (value: V | undefined) => void; reject: (error: unknown) => void }>>();
  private scheduled = false;

  constructor(
    private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 500,
  ) {}

  load(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.queue.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.queue.set(key, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = new Map();
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += this.maxBatch) {
      const chunk = keys.slice(i, i + this.maxBatch);
      this.loadMany(chunk).then(
        (found) => chunk.forEach((key) => batch.get(key)!.forEach((w) => w.resolve(found.get(key)))),
        (error) => chunk.forEach((key) => batch.get(key)!.forEach((w) => w.reject(error))),
      );
    }
  }
}

/** A loader of documents by `_id` through a query function (e.g. `(ids) => model.find({ _id: { $in: ids } }).lean()`). */
export function byIdLoader<T extends { _id: unknown }>(find: (ids: string[]) => Promise<T[]>): BatchLoader<string, T> {
  return new BatchLoader<string, T>(async (ids) => new Map((await find(ids)).map((doc) => [String(doc._id), doc])));
}

/** A loader of a model's documents (plain objects) by `_id`: the usual case of `byIdLoader`. */
export function modelLoader<T extends { _id: unknown }>(model: Model<T>): BatchLoader<string, T> {
  return byIdLoader<T>((ids) => model.find({ _id: { $in: ids } } as never).lean<T[]>().exec());
}
