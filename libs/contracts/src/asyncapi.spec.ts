import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { renderAsyncApi } from './asyncapi';
import { ALL_TOPICS } from './topics';
import { CATALOG } from './catalog';

/** Every `$ref` anywhere in the document, with the path where it sits. */
function refsIn(node: unknown, path = '#'): Array<{ at: string; ref: string }> {
  if (Array.isArray(node)) return node.flatMap((item, i) => refsIn(item, `${path}/${i}`));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === '$ref' && typeof value === 'string' ? [{ at: path, ref: value }] : refsIn(value, `${path}/${key}`),
  );
}

/** Follows a local JSON pointer (`#/components/messages/a~1b`); undefined when it leads nowhere. */
function resolve(doc: unknown, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const token of ref.slice(2).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    if (!node || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, token)) return undefined;
    node = (node as Record<string, unknown>)[token];
  }
  return node;
}

describe('AsyncAPI document', () => {
  const committed = readFileSync(join(__dirname, '..', 'asyncapi.yaml'), 'utf8');

  it('is exactly what the payload classes generate (run `npm run asyncapi` after changing a contract)', () => {
    expect(committed).toBe(renderAsyncApi());
  });

  it('has no $ref that leads nowhere (e.g. an array of nested classes described as `Array`)', () => {
    const doc = load(committed);
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(0);
    const dangling = refs.filter(({ ref }) => {
      const target = resolve(doc, ref);
      return !target || typeof target !== 'object';
    });
    expect(dangling).toEqual([]);
  });

  it('describes arrays of nested classes by their element class', () => {
    const doc = load(committed) as { components: { schemas: Record<string, { properties: Record<string, unknown> }> } };
    const items = (schema: string, property: string) => doc.components.schemas[schema].properties[property];
    // Each item an object (IsObject each: an array inside the list is refused), of the element class.
    expect(items('UserSnapshot', 'roles')).toEqual({ type: 'array', items: { type: 'object', $ref: '#/components/schemas/RoleGrant' } });
    expect(items('PartnerRegistered', 'locations')).toEqual({
      type: 'array',
      items: { type: 'object', $ref: '#/components/schemas/LocationInfo' },
    });
    expect(items('InvitationIssued', 'recipients')).toEqual({ type: 'array', items: { type: 'object', $ref: '#/components/schemas/Recipient' } });
  });

  it('names only event types of the topic among those keyed otherwise', () => {
    for (const contract of Object.values(CATALOG)) {
      expect(Object.keys(contract.types)).toEqual(expect.arrayContaining(Object.keys(contract.keyExceptions ?? {})));
    }
  });

  it('documents every topic, its dead-letter topic and every event type with its fields', () => {
    const doc = load(committed) as { channels: Record<string, unknown>; components: { messages: Record<string, unknown>; schemas: Record<string, { properties?: object }> } };
    for (const topic of ALL_TOPICS) {
      expect(doc.channels[topic]).toBeDefined();
      // Every topic a platform consumer reads has its dead-letter topic; the deliveries' dead letters are one already.
      if (CATALOG[topic].deadLetters === false) expect(doc.channels[`${topic}.dlq`]).toBeUndefined();
      else expect(doc.channels[`${topic}.dlq`]).toBeDefined();
      for (const type of Object.keys(CATALOG[topic].types)) {
        expect(doc.components.messages[`${topic}/${type}`]).toBeDefined();
        const message = doc.components.messages[`${topic}/${type}`] as { payload: { allOf: Array<{ properties?: { data?: { $ref: string } } }> } };
        const ref = message.payload.allOf[1].properties!.data!.$ref.split('/').pop()!;
        expect(doc.components.schemas[ref]?.properties).toBeDefined();
      }
    }
    expect(Object.keys(doc.components.schemas.EligibilityDetermined.properties!)).toEqual(
      expect.arrayContaining(['programId', 'locationId', 'partnerId', 'fiscalYear', 'eligible', 'reasons']),
    );
  });
});
