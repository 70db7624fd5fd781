import { plainToInstance } from 'class-transformer';
import { IsOptional, validateSync } from 'class-validator';
import { Text, TextRules } from '../src/http/text';

class Input {
  @Text(10)
  name!: string;

  @IsOptional()
  @Text(10)
  note?: string;
}

const check = (plain: object) => {
  const input = plainToInstance(Input, plain);
  return { input, errors: validateSync(input).flatMap((e) => Object.values(e.constraints ?? {})) };
};

describe('Text', () => {
  it('trims a name', () => {
    const { input, errors } = check({ name: '  Contoso  ' });
    expect(errors).toEqual([]);
    expect(input.name).toBe('Contoso');
  });

  it('stores a name in its composed form (NFC), as it looks', () => {
    const { input, errors } = check({ name: ' Cafe\u0301 ' });
    expect(errors).toEqual([]);
    expect(input.name).toBe('Caf\u00e9');
  });

  it.each([[''], ['   '], ['\t\n']])('refuses a blank name (%j)', (name) => {
    expect(check({ name }).errors).toEqual(['name must not be blank']);
  });

  it('refuses a name too long once trimmed, and a name that is not a string', () => {
    expect(check({ name: ' 12345678901 ' }).errors).toEqual(['name must be shorter than or equal to 10 characters']);
    expect(check({ name: ' 1234567890 ' }).errors).toEqual([]);
    expect(check({ name: 42 }).errors).toContain('name must be a string');
  });

  // Text nobody sees: a zero-width space, a soft hyphen, a byte-order mark. Kept inside text (a zero-width non-joiner
  // is how Persian is written), not as all of it.
  // Also the other default ignorable characters (a Hangul filler, a variation selector, a combining grapheme joiner)
  // and the blank braille pattern.
  it.each([['\u200b'], [' \u00ad '], ['\ufeff\u200b'], ['\u3164'], ['\ufe0f\u034f'], ['\u2800']])('refuses a name of invisible characters only (%j) as blank', (name) => {
    expect(check({ name }).errors).toEqual(['name must not be blank']);
  });

  // A NUL, an escape, a C1 control; and the bidirectional overrides that make text read other than it is stored
  // ("Trojan Source"), in a name shown in emails and on every list.
  it.each([['Cont\u0000oso'], ['\u001b[31mAB'], ['Cont\u0085oso'], ['AB \u202egnp'], ['\u2066Contoso\u2069']])('refuses a control or bidirectional override character (%j)', (name) => {
    expect(check({ name }).errors).toEqual(['name must not contain control characters or bidirectional overrides']);
  });

  it('takes line breaks and tabs, and invisible characters inside text', () => {
    expect(check({ name: 'a\tb\nc' }).errors).toEqual([]);
    expect(check({ name: 'می\u200cخواهم' }).errors).toEqual([]);
  });

  it('leaves an optional field out, but refuses it blank', () => {
    expect(check({ name: 'a' }).errors).toEqual([]);
    expect(check({ name: 'a', note: ' ' }).errors).toEqual(['note must not be blank']);
  });
});

describe('TextRules on each entry of a list', () => {
  class Reasons {
    @TextRules({ each: true })
    reasons!: string[];
  }
  const errors = (reasons: string[]) => validateSync(plainToInstance(Reasons, { reasons })).flatMap((e) => Object.values(e.constraints ?? {}));

  it('refuses an entry with nothing visible, or with a control character or an override, naming the list', () => {
    expect(errors(['Name differs', 'Statement missing'])).toEqual([]);
    expect(errors(['Name differs', '\u200b'])).toEqual(['reasons must not be blank']);
    expect(errors(['\u202eName differs'])).toEqual(['reasons must not contain control characters or bidirectional overrides']);
  });
});

describe('validation errors of a field left out', () => {
  it('say it is required (sent as null: that it must not be), once, instead of every rule it fails', async () => {
    const { flattenValidationErrors } = await import('../src/http/problem');
    const input = plainToInstance(Input, { note: 'x' });
    expect(flattenValidationErrors(validateSync(input))).toEqual([{ field: 'name', message: 'name is required' }]);
    expect(flattenValidationErrors(validateSync(plainToInstance(Input, { name: null })))).toEqual([{ field: 'name', message: 'name must not be null' }]);
    expect(flattenValidationErrors(validateSync(plainToInstance(Input, { name: 7 })))).toEqual([{ field: 'name', message: 'name must be a string' }]);
  });
});

describe('validation errors of a field that should not be there', () => {
  it('say so, also when it is sent as null', async () => {
    const { createValidationPipe } = await import('../src/http/validation');
    const pipe = createValidationPipe();
    const refuse = async (value: object) => {
      try {
        await pipe.transform(value, { type: 'body', metatype: Input });
      } catch (error) {
        return (error as { fieldErrors: Array<{ field: string; message: string }> }).fieldErrors;
      }
      throw new Error('accepted');
    };
    expect(await refuse({ name: 'a', foo: null })).toEqual([{ field: 'foo', message: 'property foo should not exist' }]);
    expect(await refuse({ name: 'a', foo: 1 })).toEqual([{ field: 'foo', message: 'property foo should not exist' }]);
  });
});
