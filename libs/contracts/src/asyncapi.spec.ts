import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { renderAsyncApi } from './asyncapi';
import { ALL_TOPICS } from './topics';
import { CATALOG } from './catalog';

describe('AsyncAPI document', () => {
  const committed = readFileSync(join(__dirname, '..', 'asyncapi.yaml'), 'utf8');

  it('is exactly what the payload classes generate (run `npm run asyncapi` after changing a contract)', () => {
    expect(committed).toBe(renderAsyncApi());
  });

  it('documents every topic, its dead-letter topic and every event type with its fields', () => {
    const doc = load(committed) as { channels: Record<string, unknown>; components: { messages: Record<string, unknown>; schemas: Record<string, { properties?: object }> } };
    for (const topic of ALL_TOPICS) {
      expect(doc.channels[topic]).toBeDefined();
      expect(doc.channels[`${topic}.dlq`]).toBeDefined();
      for (const [type, cls] of Object.entries(CATALOG[topic].types)) {
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
