import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { DateTime } from '../src/http/date-time';

class Input {
  @DateTime()
  at!: string;
}

const errors = (at: unknown) => validateSync(plainToInstance(Input, { at })).flatMap((e) => Object.values(e.constraints ?? {}));

describe('DateTime', () => {
  it.each([['2027-12-31'], ['2027-12-31T10:00:00Z'], ['2027-12-31T10:00:00.123+02:00'], ['2027-12-31T10:00Z']])('takes %s', (at) => {
    expect(errors(at)).toEqual([]);
    expect(Number.isNaN(Date.parse(at))).toBe(false);
  });

  // ISO 8601 forms IsDateString takes that a Date cannot read, and what is no date at all.
  // A date-time without its offset from UTC is read in each replica's time zone: refused too.
  it.each([['2027-W05'], ['2027-123'], ['20271231'], ['2027-12-31T10'], ['2027-02-30'], ['next year'], [''], [20271231], [null], ['2027-12-31T10:00:00'], ['2027-12-31T10:00:00.123'], ['2027'], ['2027-12']])(
    'refuses %j, naming the field',
    (at) => {
      expect(errors(at)).toEqual(['at must be an ISO 8601 date or date-time with its offset from UTC (e.g. 2027-12-31 or 2027-12-31T10:00:00Z)']);
    },
  );

  it.each([['2027-12-31T10:00:00-05:00'], ['2027-12-31T10:00:00+0530'], ['2027-12-31T10:00:00z']])('takes an offset written %s', (at) => {
    expect(errors(at)).toEqual([]);
  });

  // RFC 3339 allows both letters in lowercase (an outside producer's occurredAt may use them); still with an offset.
  it('takes a lowercase t separator, as the instant its capital names; not without an offset', () => {
    expect(errors('2027-12-31t10:00:00z')).toEqual([]);
    expect(Date.parse('2027-12-31t10:00:00z')).toBe(Date.parse('2027-12-31T10:00:00Z'));
    expect(errors('2027-12-31t10:00:00')).toHaveLength(1);
    expect(errors('2027-12-31t10:00:00.123')).toHaveLength(1);
  });
});
