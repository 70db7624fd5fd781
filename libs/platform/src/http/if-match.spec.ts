import { HttpException } from '@nestjs/common';
import { ifMatchTag, ifMatchVersion } from './if-match';

/** The status and problem type an If-Match value is refused with, or the version it names. */
function parse(header: unknown): number | { status: number; type: string } {
  try {
    return ifMatchVersion(header);
  } catch (error) {
    const response = (error as HttpException).getResponse() as { type?: string };
    return { status: (error as HttpException).getStatus(), type: String((error as { problemType?: string }).problemType ?? response.type) };
  }
}

describe('If-Match', () => {
  it('names the version of the ETag as the platform sends it ("3"), or a bare number', () => {
    expect(parse('"3"')).toBe(3);
    expect(parse(' "12" ')).toBe(12);
    expect(parse('3')).toBe(3);
  });

  it('a weak ETag never matches (strong comparison): 412, not a match', () => {
    expect(parse('W/"3"')).toEqual({ status: 412, type: 'weak-etag' });
  });

  it.each([['"3'], ['3"'], ['*'], ['"3", "4"'], ['W/"x"'], ['latest'], [''], [undefined], [['"3"']], ['"03"'], ['003']])('refuses %j with 400 on the If-Match field', (header) => {
    expect(parse(header)).toMatchObject({ status: 400 });
  });

  it('is fingerprinted in one form for one version: 3 and "3" alike, anything else as sent', () => {
    expect(ifMatchTag('3')).toBe('"3"');
    expect(ifMatchTag(' "3" ')).toBe('"3"');
    expect(ifMatchTag('W/"3"')).toBe('W/"3"');
    expect(ifMatchTag('"03"')).toBe('"03"');
  });
});
