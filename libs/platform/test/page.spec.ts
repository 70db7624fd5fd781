import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { Keyset, PageQuery } from '../src/http/page';
import { ValidationProblem } from '../src/http/problem';

interface Row {
  name: string;
  _id: string;
}

const keyset = new Keyset<Row>('rows', ['name', '_id']);
/** Another list whose order has the same shape (two strings). */
const other = new Keyset<Row>('other-rows', ['name', '_id']);

/** Rows in keyset order, filtered by what `after` gives: the same expansion a database evaluates. */
const rows: Row[] = ['a', 'b', 'b', 'c', 'd', 'e', 'e', 'f'].map((name, i) => ({ name, _id: `id-${i}` }));
function matches(row: Row, filter: Record<string, unknown>): boolean {
  const or = filter.$or as Array<Record<string, unknown>> | undefined;
  if (!or) return true;
  return or.some((clause) =>
    Object.entries(clause).every(([field, cond]) => {
      const value = row[field as keyof Row];
      return typeof cond === 'object' && cond !== null ? value > (cond as { $gt: string }).$gt : value === cond;
    }),
  );
}

describe('Keyset paging', () => {
  it('builds the "after" filter as (a > x) or (a = x and b > y), and nothing without a cursor', () => {
    expect(keyset.after(undefined)).toEqual({});
    const cursor = keyset.cursorOf({ name: 'b', _id: 'id-1' });
    expect(keyset.after(cursor)).toEqual({ $or: [{ name: { $gt: 'b' } }, { name: 'b', _id: { $gt: 'id-1' } }] });
    expect(keyset.sort).toEqual({ name: 1, _id: 1 });
  });

  it('walks every row once, in order, page by page; the last page has no nextCursor', () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const after = keyset.after(cursor);
      const page = keyset.page(rows.filter((r) => matches(r, after)).slice(0, 3 + 1), 3);
      seen.push(...page.items.map((r) => r._id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(rows.map((r) => r._id));
    expect(pages).toBe(3);
  });

  it('reads on past rows the caller may not see, so that only the last page is short', async () => {
    const reads: number[] = [];
    const read = async (after: Record<string, unknown>, count: number) => {
      reads.push(count);
      return rows.filter((r) => matches(r, after)).slice(0, count);
    };
    const visible = (r: Row) => !['id-1', 'id-2', 'id-3'].includes(r._id);
    const first = await keyset.readPage(undefined, 2, read, visible);
    expect(first.items.map((r) => r._id)).toEqual(['id-0', 'id-4']);
    expect(reads.length).toBeGreaterThan(1);
    // Each read asks for a whole page and one (not just what is left to fill): rows dropped cost no extra queries.
    expect(new Set(reads)).toEqual(new Set([3]));
    const second = await keyset.readPage(first.nextCursor, 2, read, visible);
    expect(second.items.map((r) => r._id)).toEqual(['id-5', 'id-6']);
    const last = await keyset.readPage(second.nextCursor, 2, read, visible);
    expect(last).toEqual({ items: [{ name: 'f', _id: 'id-7' }] });
  });

  describe('a descending date field (the newest first)', () => {
    interface Dated {
      at: Date;
      _id: string;
    }
    const newest = new Keyset<Dated>('dated', ['at', '_id'], { descending: ['at'], dates: ['at'] });
    const day = (d: number) => new Date(Date.UTC(2026, 0, d));
    // In keyset order: `at` descending, then `_id` ascending.
    const dated: Dated[] = [5, 5, 4, 2, 2, 2, 1].map((d, i) => ({ at: day(d), _id: `id-${i}` }));
    const matchesDated = (row: Dated, filter: Record<string, unknown>) =>
      ((filter.$or as Array<Record<string, unknown>> | undefined) ?? [{}]).some((clause) =>
        Object.entries(clause).every(([field, cond]) => {
          const value = row[field as keyof Dated];
          const { $lt, $gt } = (cond ?? {}) as { $lt?: Date | string; $gt?: string };
          if ($lt !== undefined) return value < $lt;
          if ($gt !== undefined) return value > $gt;
          return value instanceof Date ? value.getTime() === (cond as Date).getTime() : value === cond;
        }),
      );

    it('sorts it -1 and reads "after" as $lt, with the date back as a Date', () => {
      expect(newest.sort).toEqual({ at: -1, _id: 1 });
      expect(newest.after(newest.cursorOf(dated[1]))).toEqual({ $or: [{ at: { $lt: day(5) } }, { at: day(5), _id: { $gt: 'id-1' } }] });
    });

    it('walks every row once, newest first, page by page', () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const after = newest.after(cursor);
        const page = newest.page(dated.filter((r) => matchesDated(r, after)).slice(0, 2 + 1), 2);
        seen.push(...page.items.map((r) => r._id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(dated.map((r) => r._id));
    });

    it.each([
      [Buffer.from('["dated",{"date":"not a date"},"id-1"]').toString('base64url')],
      [Buffer.from('["dated",{"date":"2026-01-05T00:00:00.000Z","x":1},"id-1"]').toString('base64url')],
      [Buffer.from('["dated",null,"id-1"]').toString('base64url')],
      // Values of the wrong kind: compared with the stored dates (or strings) they match nothing, an empty page.
      [Buffer.from('["dated","2026-01-05","id-1"]').toString('base64url')],
      [Buffer.from('["dated",{"date":"2026-01-05T00:00:00.000Z"},{"date":"2026-01-05T00:00:00.000Z"}]').toString('base64url')],
      [Buffer.from('["dated",{"date":"2026-01-05T00:00:00.000Z"},7]').toString('base64url')],
    ])('refuses a cursor whose date is not one, or a value of the wrong kind (%s)', (cursor) => {
      expect(() => newest.after(cursor)).toThrow(ValidationProblem);
    });
  });

  it.each([
    ['not base64 json!'],
    [Buffer.from('{"a":1}').toString('base64url')],
    [Buffer.from('["only one"]').toString('base64url')],
    [Buffer.from('["rows",{},"x"]').toString('base64url')],
    // The values alone (a position without the list's name), and another list's cursor of the same shape.
    [Buffer.from('["b","id-1"]').toString('base64url')],
    [other.cursorOf({ name: 'b', _id: 'id-1' })],
  ])(
    'refuses a cursor this list did not give (%s) with a 400 naming `cursor`',
    (cursor) => {
      let error: unknown;
      try {
        keyset.after(cursor);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ValidationProblem);
      expect((error as ValidationProblem).extensions).toMatchObject({ errors: [{ field: 'cursor' }] });
    },
  );

  it('validates limit (1 to 1000) and cursor', () => {
    const errors = (plain: object) => validateSync(plainToInstance(PageQuery, plain)).map((e) => e.property);
    expect(errors({})).toEqual([]);
    expect(errors({ limit: '5', cursor: 'abc' })).toEqual([]);
    expect(errors({ limit: '0' })).toEqual(['limit']);
    expect(errors({ limit: '1001' })).toEqual(['limit']);
    expect(errors({ limit: 'ten' })).toEqual(['limit']);
    // What Number() reads but the documented integer is not.
    for (const limit of ['0x10', '1e2', '0b11', ' 5', '5 ', '+5', '5.0', '']) expect(errors({ limit })).toEqual(['limit']);
    expect(errors({ cursor: '' })).toEqual(['cursor']);
  });
});
