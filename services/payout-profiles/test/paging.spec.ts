/**
 * Keyset paging of the three lists (GET /v1/bank-profiles, /v1/tax-profiles, /v1/default-bank-profiles): a walk page by
 * page, passing each page's `nextCursor` as `cursor`, sees every item the caller may read once, in the list's order, and the
 * last page has no `next`. The bank profiles are filtered per profile in code (who may read which): pages stay full
 * until the last even where the caller may not read the profiles in between. Bad `limit` and `cursor`: bad-input.spec.ts.
 */
import { Answer, call, CallerName, createWorld, Harness, ibanProfile, nonUsTaxProfile, startHarness, usTaxProfile, World } from './support';

jest.setTimeout(120_000);

let h: Harness;
let w: World;

beforeAll(async () => {
  h = await startHarness('paging');
  w = await createWorld(h);
}, 180_000);

afterAll(() => h?.close());

interface Walk<T> {
  items: T[];
  pageSizes: number[];
}

/** Reads `path` page by page with `limit`, following `next` until a page has none (at most 50 pages). */
async function walk<T>(caller: CallerName, path: string, limit: number): Promise<Walk<T>> {
  const token = await w.token(caller);
  const items: T[] = [];
  const pageSizes: number[] = [];
  let after: string | undefined;
  do {
    const query = new URLSearchParams({ limit: String(limit), ...(after && { cursor: after }) });
    const answer: Answer<{ items: T[]; nextCursor?: string }> = await call(h, 'GET', `${path}?${query}`, { token });
    expect(`${answer.status} ${JSON.stringify(answer.body)}`).toMatch(/^200 /);
    items.push(...answer.body.items);
    pageSizes.push(answer.body.items.length);
    // `next` is absent, not null or empty, on the last page
    if ('nextCursor' in answer.body) expect(answer.body.nextCursor).toEqual(expect.any(String));
    after = answer.body.nextCursor;
  } while (after && pageSizes.length < 50);
  expect(after).toBeUndefined();
  return { items, pageSizes };
}

describe('GET /v1/bank-profiles, a page at a time', () => {
  // Names in a mixed case and created out of order: the list is by nameKey (the name in lower case), so "Paging B"
  // comes between "paging a" and "paging c". Those of L2 (adminOfOtherLocation's) sit between those of L1 and L3
  // (adminOfLocation's), so that a page of L2's profiles read as "limit + 1 rows, then filtered" would come up short.
  const OF_L1_L3 = ['Paging C', 'paging A', 'Paging D', 'paging F', 'Paging H', 'paging J', 'Paging K'];
  const OF_L2 = ['paging E', 'Paging B', 'paging I', 'Paging G', 'paging L'];
  const order = (names: string[]) => [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  const ids = new Map<string, string>();

  beforeAll(async () => {
    for (const [caller, names] of [['adminOfLocation', OF_L1_L3], ['adminOfOtherLocation', OF_L2]] as const) {
      const token = await w.token(caller);
      for (const name of names) {
        const answer = await call(h, 'POST', '/v1/bank-profiles', { token, body: ibanProfile({ name }) });
        expect(`${answer.status} ${JSON.stringify(answer.body)}`).toMatch(/^201 /);
        ids.set(name, answer.body.profileId);
      }
    }
  }, 120_000);

  it('a company admin walks every profile of the partner once, in name order, two a page; the last page has no next', async () => {
    const { items, pageSizes } = await walk<{ profileId: string; name: string }>('companyAdmin', '/v1/bank-profiles', 2);
    const expected = order([...OF_L1_L3, ...OF_L2]);
    expect(items.map((p) => p.name)).toEqual(expected);
    expect(items.map((p) => p.profileId)).toEqual(expected.map((name) => ids.get(name)));
    expect(pageSizes).toEqual([2, 2, 2, 2, 2, 2]);
  });

  it('an Incentives admin of L2 alone gets full pages of the profiles serving L2 until the last, past those of L1 and L3 in between', async () => {
    const { items, pageSizes } = await walk<{ profileId: string; name: string; locationIds: string[] }>('adminOfOtherLocation', '/v1/bank-profiles', 2);
    expect(items.map((p) => p.name)).toEqual(order(OF_L2)); // B E G I L
    expect(items.every((p) => p.locationIds.includes(w.L2))).toBe(true);
    expect(pageSizes).toEqual([2, 2, 1]);
    // and the same walk of the other admin, whose profiles have L2's in between
    const theirs = await walk<{ name: string }>('adminOfLocation', '/v1/bank-profiles', 3);
    expect(theirs.items.map((p) => p.name)).toEqual(order(OF_L1_L3)); // A C D F H J K
    expect(theirs.pageSizes).toEqual([3, 3, 1]);
  });

  it('without limit a page holds up to 100: every profile at once, without next', async () => {
    const answer = await call(h, 'GET', '/v1/bank-profiles', { token: await w.token('companyAdmin') });
    expect(answer.status).toBe(200);
    expect(answer.body.items).toHaveLength(OF_L1_L3.length + OF_L2.length);
    expect(answer.body).not.toHaveProperty('nextCursor');
  });

  it('a name whose key expands (NFKC: "\ufdfa" is 18 letters) still gives a cursor the list takes back', async () => {
    const token = await w.token('adminOfLocation');
    const long = ['\ufdfa'.repeat(100), `${'\ufdfa'.repeat(99)}x`];
    for (const name of long) expect((await call(h, 'POST', '/v1/bank-profiles', { token, body: ibanProfile({ name }) })).status).toBe(201);
    const first = await call(h, 'GET', `/v1/bank-profiles?limit=${OF_L1_L3.length + OF_L2.length + 1}`, { token: await w.token('companyAdmin') });
    expect(first.body.nextCursor.length).toBeGreaterThan(2_000);
    const { items } = await walk<{ name: string }>('companyAdmin', '/v1/bank-profiles', 1);
    expect(items.map((p) => p.name).slice(-2).sort()).toEqual([...long].sort());
  });
});

describe('GET /v1/tax-profiles and GET /v1/default-bank-profiles, a page at a time', () => {
  beforeAll(async () => {
    const admin = await w.token('adminOfLocation');
    const other = await w.token('adminOfOtherLocation');
    const created = [
      await call(h, 'POST', `/v1/locations/${w.L3}/tax-profile`, { token: admin, body: nonUsTaxProfile() }),
      await call(h, 'POST', `/v1/locations/${w.L1}/tax-profile`, { token: admin, body: usTaxProfile() }),
      await call(h, 'POST', `/v1/locations/${w.L2}/tax-profile`, { token: other, body: nonUsTaxProfile() }),
    ];
    for (const answer of created) expect(`${answer.status} ${JSON.stringify(answer.body)}`).toMatch(/^201 /);
    const ofL1L3 = await call(h, 'POST', '/v1/bank-profiles', { token: admin, body: ibanProfile({ name: 'defaults L1 L3' }) });
    const ofL2 = await call(h, 'POST', '/v1/bank-profiles', { token: other, body: ibanProfile({ name: 'defaults L2' }) });
    const defaults = [
      await call(h, 'PUT', `/v1/locations/${w.L3}/default-bank-profile`, { token: admin, body: { bankProfileId: ofL1L3.body.profileId, currency: 'EUR' } }),
      await call(h, 'PUT', `/v1/locations/${w.L2}/default-bank-profile`, { token: other, body: { bankProfileId: ofL2.body.profileId, currency: 'EUR' } }),
      await call(h, 'PUT', `/v1/locations/${w.L1}/default-bank-profile`, { token: admin, body: { bankProfileId: ofL1L3.body.profileId, currency: 'EUR' } }),
    ];
    for (const answer of defaults) expect(`${answer.status} ${JSON.stringify(answer.body)}`).toMatch(/^201 /);
  }, 120_000);

  it('tax profiles: every one of the locations once, by location, over two pages', async () => {
    const { items, pageSizes } = await walk<{ locationId: string; partnerId: string }>('companyAdmin', '/v1/tax-profiles', 2);
    expect(items.map((p) => p.locationId)).toEqual([w.L1, w.L2, w.L3]);
    expect(pageSizes).toEqual([2, 1]);
    const one = await walk<{ locationId: string }>('incentivesUser', '/v1/tax-profiles', 1);
    expect(one.items.map((p) => p.locationId)).toEqual([w.L1, w.L3]);
    expect(one.pageSizes).toEqual([1, 1]);
  });

  it('defaults: every location with a default once, by location, over two pages', async () => {
    const { items, pageSizes } = await walk<{ locationId: string }>('companyAdmin', '/v1/default-bank-profiles', 2);
    expect(items.map((d) => d.locationId)).toEqual([w.L1, w.L2, w.L3]);
    expect(pageSizes).toEqual([2, 1]);
    const one = await walk<{ locationId: string }>('adminOfLocation', '/v1/default-bank-profiles', 1);
    expect(one.items.map((d) => d.locationId)).toEqual([w.L1, w.L3]);
    expect(one.pageSizes).toEqual([1, 1]);
  });
});
