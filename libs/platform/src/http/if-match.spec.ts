import { HttpException } from '@nestjs/common';
import { ifMatchVersion } from './if-match';

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

  it.each([['"3'], ['3"'], ['*'], ['"3", "4"'], ['W/"x"'], ['latest'], [''], [undefined], [['"3"']]])('refuses %j with 400 on the If-Match field', (header) => {
    expect(parse(header)).toMatchObject({ status: 400 });
  });
});
