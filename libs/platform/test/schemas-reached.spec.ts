import { schemasReached } from '../src/http/openapi-document';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

describe('schemasReached: the component schemas a document part names', () => {
  it('follows every $ref, wherever it sits, and through the schemas it names', () => {
    const schemas = {
      Root: {
        type: 'object',
        properties: {
          one: ref('InProperty'),
          many: { type: 'array', items: ref('InItems') },
          either: { anyOf: [ref('InAnyOf'), { type: 'string' }] },
          exactly: { oneOf: [ref('InOneOf')] },
          all: { allOf: [ref('InAllOf')] },
          not: { not: ref('InNot') },
          map: { type: 'object', additionalProperties: ref('InMap') },
        },
      },
      InProperty: { type: 'object', properties: { deeper: ref('Deeper') } },
      InItems: {},
      InAnyOf: {},
      InOneOf: {},
      InAllOf: {},
      InNot: {},
      InMap: {},
      Deeper: { properties: { back: ref('Root') } },
      Unreached: { properties: { x: ref('AlsoUnreached') } },
      AlsoUnreached: {},
    };
    expect([...schemasReached(schemas as never, [ref('Root') as never, undefined])].sort()).toEqual(
      ['Deeper', 'InAllOf', 'InAnyOf', 'InItems', 'InMap', 'InNot', 'InOneOf', 'InProperty', 'Root'].sort(),
    );
  });
});
