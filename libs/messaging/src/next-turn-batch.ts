/**
 * Collects what callers add during one turn of the event loop and hands it over on the next, in chunks of at most
 * `maxChunk`: the shared part of `BatchLoader` (reads) and `BulkWriteBatcher` (writes). Consumers handle dozens of
 * messages at once, and what their handlers issue in the same turn can go out as one command.
 */
export class NextTurnBatch<T> {
  private items: T[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (chunk: T[]) => void,
    private readonly maxChunk: number,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const items = this.items;
      this.items = [];
      for (let i = 0; i < items.length; i += this.maxChunk) this.flush(items.slice(i, i + this.maxChunk));
    });
  }
}
