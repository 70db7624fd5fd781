import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { Problems } from './problem';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
/**
 * Room for every cursor a list gives: the sort values of its last item, base64url JSON. The longest is a bank profile's
 * `nameKey`: 100 characters of name, which NFKC may expand 18 times (U+FDFA), up to 3,600 bytes of UTF-8, under 5,000
 * characters of cursor. A URL this long is still far under Node's 16 KB limit on a request's head.
 */
export const MAX_CURSOR_LENGTH = 8_000;

/**
 * A list's `limit` query parameter: a whole number from 1 to `max` (sent as text, read as a number), documented as the
 * server checks it. PageQuery's; a list with pages of another size declares its own with it.
 */
export const PageLimit = ({ max, defaultSize, description }: { max: number; defaultSize: number; description: string }) =>
  applyDecorators(
    ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: max, default: defaultSize, description }),
    IsOptional(),
    // Decimal digits only: Number() also reads "0x10", "1e2", "0b11" and " 5" (16, 100, 3, 5), which the document's
    // integer does not allow. Anything else stays text, which IsInt refuses (400 naming the field).
    Transform(({ value }) => (typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value)),
    IsInt(),
    Min(1),
    Max(max),
  );

/**
 * The paging parameters of a list endpoint (a query DTO extends it): `limit` items at most, after the position
 * `cursor` (the `nextCursor` of the page before). Keyset paging, not page numbers: a page starts after the last item the
 * client saw, so items written or removed meanwhile neither repeat nor push others out of the walk.
 */
export class PageQuery {
  @PageLimit({ max: MAX_PAGE_SIZE, defaultSize: DEFAULT_PAGE_SIZE, description: 'Items per page' })
  limit?: number;

  @PageCursor()
  cursor?: string;
}

/** The `cursor` of a list's query: the `nextCursor` of the page before, validated as documented. */
export function PageCursor(): PropertyDecorator {
  return applyDecorators(
    ApiPropertyOptional({ description: 'The `nextCursor` of the previous page (opaque); absent for the first page', minLength: 1, maxLength: MAX_CURSOR_LENGTH }),
    IsOptional(),
    IsString(),
    Length(1, MAX_CURSOR_LENGTH),
  );
}

/** A page of a list: `nextCursor` is absent on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

type KeyValue = string | Date;

/** A date in a cursor (JSON has none): `{ "date": "<ISO 8601>" }`. */
interface EncodedDate {
  date: string;
}

function encode(value: unknown): unknown {
  return value instanceof Date ? ({ date: value.toISOString() } satisfies EncodedDate) : value;
}

function decodeValue(value: unknown): KeyValue | undefined {
  if (typeof value === 'string') return value;
  if (typeof value !== 'object' || value === null || Object.keys(value).length !== 1) return undefined;
  const { date } = value as Partial<EncodedDate>;
  const parsed = typeof date === 'string' ? new Date(date) : undefined;
  return parsed && !Number.isNaN(parsed.getTime()) ? parsed : undefined;
}

/**
 * The order of a list, as fields whose values together are unique (end with `_id`) and which every row has, as a
 * string or, named in `dates`, a date (a missing one would sort first and match no "after"), each ascending unless
 * named in `descending` (e.g. the newest first), and the cursor of a position in it: the list's name and the sort
 * values of the last item of a page, as base64url JSON (the name, so that another list's cursor of the same shape is
 * refused rather than read as a position here; each value must be of its field's kind). The filter for "after" is the usual expansion (a > x) or (a = x and b > y) or ...
 * (`$lt` for a descending field), which every MongoDB-compatible server understands and real MongoDB answers from an
 * index with the same fields in the same directions.
 */
export class Keyset<T> {
  private readonly descending: ReadonlySet<string>;
  private readonly dates: ReadonlySet<string>;

  constructor(
    /** Names the list in its cursors (unique per service's lists; e.g. `bank-profiles`). */
    private readonly list: string,
    private readonly fields: ReadonlyArray<keyof T & string>,
    options: { descending?: ReadonlyArray<keyof T & string>; dates?: ReadonlyArray<keyof T & string> } = {},
  ) {
    this.descending = new Set(options.descending ?? []);
    this.dates = new Set(options.dates ?? []);
  }

  /** For `.sort()`. */
  get sort(): Record<string, 1 | -1> {
    return Object.fromEntries(this.fields.map((field) => [field, this.descending.has(field) ? -1 : 1]));
  }

  /**
   * The filter of the items after the cursor (merge it into the list's filter); `{}` without a cursor; 400 naming
   * `cursor` for one that is not a position of this list's shape (a position is no secret: the list's own filter still
   * decides what is read).
   */
  after(cursor: string | undefined): Record<string, unknown> {
    if (cursor === undefined) return {};
    const values = this.decode(cursor);
    return {
      $or: this.fields.map((field, i) => ({
        ...Object.fromEntries(this.fields.slice(0, i).map((before, j) => [before, values[j]])),
        [field]: { [this.descending.has(field) ? '$lt' : '$gt']: values[i] },
      })),
    };
  }

  /**
   * The page from rows read in this order after the cursor, `limit + 1` of them (the one beyond tells there is a next
   * page).
   */
  page(rows: T[], limit: number): Page<T> {
    if (rows.length <= limit) return { items: rows };
    const items = rows.slice(0, limit);
    return { items, nextCursor: this.cursorOf(items[items.length - 1]) };
  }

  /**
   * Reads a page with `read(filter, count)` (the filter of the rows after a position, `count` rows in this order), for
   * lists whose access rule is checked per row in code (`keep`): reads on past rows dropped until the page is full or
   * the rows run out, so a page is short only when it is the last. Each read asks for a whole page's worth (not what is
   * left to fill), so rows dropped cost reads of `limit + 1`, not one query each; a caller who may see few of many rows
   * should still narrow the read's own filter to them where it can.
   */
  async readPage(
    cursor: string | undefined,
    limit: number,
    read: (after: Record<string, unknown>, count: number) => Promise<T[]>,
    keep: (row: T) => boolean = () => true,
  ): Promise<Page<T>> {
    const kept: T[] = [];
    let after = this.after(cursor);
    for (;;) {
      const count = limit + 1;
      const rows = await read(after, count);
      kept.push(...rows.filter(keep));
      if (kept.length > limit || rows.length < count) return this.page(kept, limit);
      after = this.after(this.cursorOf(rows[rows.length - 1]));
    }
  }

  cursorOf(row: T): string {
    return Buffer.from(JSON.stringify([this.list, ...this.fields.map((field) => encode(row[field]))])).toString('base64url');
  }

  private decode(cursor: string): KeyValue[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const values = Array.isArray(parsed) ? parsed.slice(1).map(decodeValue) : [];
    // Each value of its field's kind: a string compared with dates (or a date with strings) matches nothing, and a
    // made-up cursor would answer an empty page, as if the list had ended.
    const valid =
      Array.isArray(parsed) &&
      parsed.length === this.fields.length + 1 &&
      parsed[0] === this.list &&
      values.every((v, i) => (this.dates.has(this.fields[i]) ? v instanceof Date : typeof v === 'string'));
    if (!valid) throw Problems.field('cursor', 'cursor must be the nextCursor of a page of this list');
    return values as KeyValue[];
  }
}
