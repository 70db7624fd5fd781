import { DeadLetterHeaders, REPLAY_OF_HEADER } from '@lib/contracts';
import type { IHeaders, Message } from 'kafkajs';
import { DeadLetterWriter } from './dead-letter-writer';
import { MessagingMetrics } from './metrics';

/** A dead-letter topic that refuses any record larger than `limit` (key, value and headers), as the broker does. */
function topicOf(limit: number) {
  const written: Message[] = [];
  const size = (m: Message) => (m.key?.length ?? 0) + (m.value?.length ?? 0) + Object.entries(m.headers ?? {}).reduce((n, [k, v]) => n + k.length + String(v).length, 0);
  const producer = {
    send: async (_topic: string, messages: Message[]) => {
      if (messages.some((m) => size(m) > limit)) {
        throw Object.assign(new Error('The request included a message larger than the max message size the server will accept'), { name: 'KafkaJSProtocolError', type: 'MESSAGE_TOO_LARGE', retriable: false });
      }
      written.push(...messages);
    },
  };
  const logger = { warn: () => undefined };
  return { written, writer: new DeadLetterWriter(producer as never, new MessagingMetrics(), logger as never) };
}

const origin = { topic: 'agreements.status.v1', partition: 2, offset: '41' };
const failure = new Error('not JSON');

describe('DeadLetterWriter', () => {
  it('keeps the value when the dead-letter topic takes it', async () => {
    const { written, writer } = topicOf(10_000);
    await writer.write(origin, 'g', Buffer.from('k'), Buffer.from('v'.repeat(100)), { trace: 'x' }, failure, 1);
    expect(written).toHaveLength(1);
    expect(String(written[0].value)).toBe('v'.repeat(100));
  });

  it('drops the value when the topic refuses the record, keeping the key and original headers', async () => {
    const { written, writer } = topicOf(2_000);
    await writer.write(origin, 'g', Buffer.from('k'), Buffer.from('v'.repeat(5_000)), { trace: 'x' }, failure, 1);
    expect(written).toEqual([expect.objectContaining({ key: Buffer.from('k'), value: null, headers: expect.objectContaining({ trace: 'x', [DeadLetterHeaders.originalOffset]: '41' }) })]);
  });

  it('refused without its value too (a key and headers above the topic limit): sends where the original is, alone, rather than stopping the partition', async () => {
    const { written, writer } = topicOf(2_000);
    const headers: IHeaders = { big: 'h'.repeat(3_000), [REPLAY_OF_HEADER]: '2:7' };
    await writer.write(origin, 'g', Buffer.from('k'.repeat(3_000)), Buffer.from('v'.repeat(5_000)), headers, failure, 1);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ key: null, value: null });
    expect(written[0].headers).not.toHaveProperty('big');
    // A replayed copy keeps its mark: `npm run dlq` tells it from its original by it.
    expect(written[0].headers).toHaveProperty(REPLAY_OF_HEADER, '2:7');
    expect(written[0].headers).toMatchObject({
      [DeadLetterHeaders.originalTopic]: origin.topic,
      [DeadLetterHeaders.originalPartition]: '2',
      [DeadLetterHeaders.originalOffset]: '41',
      [DeadLetterHeaders.valueDropped]: expect.stringMatching(/the key and original headers dropped too/),
    });
  });

  it('rethrows when even that is refused (the consumer retries, and the operator sees it)', async () => {
    const { written, writer } = topicOf(50);
    await expect(writer.write(origin, 'g', Buffer.from('k'), Buffer.from('v'.repeat(5_000)), {}, failure, 1)).rejects.toThrow(/larger than the max message size/);
    expect(written).toHaveLength(0);
  });
});
