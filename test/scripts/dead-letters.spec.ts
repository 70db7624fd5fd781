import { deadLetterTopic, DeadLetterHeaders } from '@lib/contracts';
import { eventually, TestKafka } from '@lib/testing';
import { Kafka, logLevel } from 'kafkajs';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { command, DeadLetters, describe as describeLetter } from '../../scripts/dead-letters';

jest.setTimeout(120_000);

const root = join(__dirname, '..', '..');
const brokers = () => process.env.KAFKA_BROKERS!.split(',');

/** A dead letter as the consumer transport writes one (libs/messaging, kafka-event.server.ts `deadLetter`). */
function deadLetterHeaders(origin: { topic: string; partition: number; offset: string }, group: string, error: string, extra: Record<string, string> = {}) {
  return {
    [DeadLetterHeaders.error]: error,
    [DeadLetterHeaders.originalTopic]: origin.topic,
    [DeadLetterHeaders.originalPartition]: String(origin.partition),
    [DeadLetterHeaders.originalOffset]: origin.offset,
    [DeadLetterHeaders.consumerGroup]: group,
    [DeadLetterHeaders.attempts]: '5',
    [DeadLetterHeaders.failedAt]: '2026-12-06T05:00:00.000Z',
    ...extra,
  };
}

describe('npm run dlq (scripts/dead-letters.ts): an operator lists and replays dead letters', () => {
  const kafka = new Kafka({ clientId: 'dlq-spec', brokers: brokers(), logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const test = new TestKafka(brokers());
  const topic = `dlq-spec-${randomUUID().slice(0, 8)}.events.v1`;

  beforeAll(async () => {
    await test.ensureTopics([topic, deadLetterTopic(topic)]);
    await producer.connect();
  });

  afterAll(async () => {
    await producer.disconnect();
    await test.close();
  });

  it('lists each dead letter (where, when, which group, why, what), replays the chosen ones as they were, and reads a dropped value at its origin', async () => {
    const eventId = randomUUID();
    const value = JSON.stringify({ type: 'EligibilityDetermined', eventId, data: { partnerId: 'C1' } });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    // The originals, on the topic (the second one's dead letter went without its value: too large).
    const [first] = await producer.send({ topic, messages: [{ key: 'L1', value, partition: 2, headers: { traceparent } }] });
    const bigValue = JSON.stringify({ type: 'EligibilityDetermined', eventId: randomUUID(), data: { note: 'x'.repeat(1000) } });
    const [second] = await producer.send({ topic, messages: [{ key: 'L2', value: bigValue, partition: 3 }] });
    await producer.send({
      topic: deadLetterTopic(topic),
      messages: [
        { key: 'L1', value, partition: 0, headers: { traceparent, ...deadLetterHeaders({ topic, partition: 2, offset: first.baseOffset! }, 'enrollment', 'the enrollment kept changing') } },
        {
          key: 'L2',
          value: null,
          partition: 0,
          headers: deadLetterHeaders({ topic, partition: 3, offset: second.baseOffset! }, 'invitations', 'handler failed', { [DeadLetterHeaders.valueDropped]: 'record of 2000000 bytes exceeds 1048576' }),
        },
      ],
    });

    const letters = new DeadLetters(brokers());
    const listed = await letters.list(topic);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({
      at: '0:0',
      key: 'L1',
      error: 'the enrollment kept changing',
      originalTopic: topic,
      originalPartition: 2,
      originalOffset: first.baseOffset,
      consumerGroup: 'enrollment',
      attempts: 5,
      failedAt: '2026-12-06T05:00:00.000Z',
      headers: { traceparent },
    });
    expect(listed[1]).toMatchObject({ at: '0:1', valueDropped: 'record of 2000000 bytes exceeds 1048576', value: null });
    expect((await letters.list(topic, { group: 'invitations' })).map((l) => l.at)).toEqual(['0:1']);

    // The command line prints one line each, then the count.
    const { stdout } = await promisify(execFile)(process.execPath, ['-r', '@swc-node/register', 'scripts/dead-letters.ts', 'list', topic], { cwd: root, env: process.env });
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toContain(`0:0  2026-12-06T05:00:00.000Z  group enrollment  ${topic}[2]@${first.baseOffset}  5 attempt(s)  key L1  EligibilityDetermined ${eventId}  error: the enrollment kept changing`);
    expect(lines[1]).toContain('(value dropped: record of 2000000 bytes exceeds 1048576)');
    expect(lines[2]).toBe(`2 dead letter(s) of ${topic}`);

    const watch = await test.watch([topic]);
    await watch.waitFor((m) => m.offset === second.baseOffset && m.partition === 3);
    const { replayed, skipped } = await letters.replay(topic, ['0:0', '0:1']);
    expect(replayed.map((l) => l.at)).toEqual(['0:0', '0:1']);
    expect(skipped).toEqual([]);
    const again = await watch.waitFor((m) => m.key === 'L1' && m.offset !== first.baseOffset);
    expect(again[0].raw).toBe(value);
    // Saying where the original stood: consumers order facts of the same instant by it, not by the copy's offset.
    expect(again[0].headers).toEqual({ traceparent, 'x-replay-of': `2:${first.baseOffset}` });
    expect(again[0].partition).toBe(2); // where it came from
    const big = await watch.waitFor((m) => m.key === 'L2' && !(m.partition === 3 && m.offset === second.baseOffset));
    expect(big[0].raw).toBe(bigValue);
    expect(big[0].partition).toBe(3);
    expect(Object.keys(big[0].headers).filter((h) => h.startsWith('x-dlq-'))).toEqual([]);
    expect(big[0].headers['x-replay-of']).toBe(`3:${second.baseOffset}`);

    await expect(letters.replay(topic, ['0:7'])).rejects.toThrow(`No dead letter of ${topic} at 0:7`);

    // One whose original is no longer kept, named after one that is: nothing published (not the first, then a failure).
    await producer.send({
      topic: deadLetterTopic(topic),
      messages: [{ key: 'L3', value: null, partition: 0, headers: deadLetterHeaders({ topic, partition: 3, offset: '999999' }, 'invitations', 'handler failed', { [DeadLetterHeaders.valueDropped]: 'too large' }) }],
    });
    const l1Before = watch.find((m) => m.key === 'L1').length;
    await expect(letters.replay(topic, ['0:0', '0:2'])).rejects.toThrow(/0:2: its value was dropped .* is no longer kept \(nothing published\)/);
    // A record sent after the refusal to the partition 0:0 would go back to: once the watch has it, it has whatever
    // the refusal published there before it.
    await producer.send({ topic, messages: [{ key: 'after-refusal', value: '{}', partition: 2 }] });
    await watch.waitFor((m) => m.key === 'after-refusal');
    expect(watch.find((m) => m.key === 'L1')).toHaveLength(l1Before);

    // The original itself, read at its topic (its dead letter gone with the DLQ's retention), published again as it is.
    const before = watch.find((m) => m.key === 'L1').length;
    expect(await letters.republish(topic, [`2:${first.baseOffset}`])).toEqual([`2:${first.baseOffset}`]);
    await eventually(async () => expect(watch.find((m) => m.key === 'L1')).toHaveLength(before + 1));
    const republished = watch.find((m) => m.key === 'L1').at(-1)!;
    expect(republished).toMatchObject({ partition: 2, raw: value, headers: { traceparent, 'x-replay-of': `2:${first.baseOffset}` } });
    await expect(letters.republish(topic, ['2:999999'])).rejects.toThrow(`${topic} keeps no record at 2:999999`);
  });

  it('replays --all once per event: the same original dead-lettered by two groups, or a replayed copy that failed again (also one with no eventId to tell it by), goes once; an empty record is left out, not a failure of the rest', async () => {
    const other = `dlq-spec-${randomUUID().slice(0, 8)}.events.v1`;
    await test.ensureTopics([other, deadLetterTopic(other)]);
    const eventId = randomUUID();
    const value = JSON.stringify({ type: 'EligibilityDetermined', eventId, data: { partnerId: 'C1' } });
    const send = async (key: string, sent: string | null, headers: Record<string, string> = {}) =>
      (await producer.send({ topic: other, messages: [{ key, value: sent, partition: 1, headers }] }))[0].baseOffset!;
    const original = await send('L1', value);
    const copy = await send('L1', value); // an earlier replay's copy
    const empty = await send('L9', null);
    // Not JSON (no eventId to tell its copies by), and an earlier replay's copy of it, saying where the original is.
    const junk = await send('J1', 'not json');
    const junkCopy = await send('J1', 'not json', { 'x-replay-of': `1:${junk}` });
    const blank = await send('B1', ''); // a zero-length value: KafkaJS reads it as an empty buffer, not null
    const letter = (key: string, offset: string, group: string, letterValue: string | null, extra: Record<string, string> = {}) => ({
      key,
      value: letterValue,
      partition: 0,
      headers: deadLetterHeaders({ topic: other, partition: 1, offset }, group, 'handler failed', extra),
    });
    await producer.send({
      topic: deadLetterTopic(other),
      messages: [
        letter('L1', original, 'enrollment', value),
        letter('L1', original, 'invitations', value),
        letter('L9', empty, 'enrollment', null),
        letter('L1', copy, 'enrollment', value),
        letter('J1', junk, 'enrollment', 'not json'),
        letter('J1', junkCopy, 'enrollment', 'not json', { 'x-replay-of': `1:${junk}` }),
        letter('B1', blank, 'enrollment', ''),
      ],
    });

    const watch = await test.watch([other]);
    await watch.waitFor((m) => m.key === 'B1');
    const dlq = new DeadLetters(brokers());
    expect(describeLetter((await dlq.list(other)).find((l) => l.at === '0:6')!)).toContain('(no value: an empty record)');
    const { replayed, skipped } = await dlq.replay(other, 'all');
    expect(replayed.map((l) => l.at)).toEqual(['0:0', '0:4']);
    expect(skipped.map(({ letter: l, why }) => [l.at, why])).toEqual([
      ['0:1', `the same event (${eventId}) as 0:0, replayed once`],
      ['0:2', 'no value (an empty record): nothing to replay'],
      ['0:3', `the same event (${eventId}) as 0:0, replayed once`],
      ['0:5', 'the same message as 0:4, replayed once'],
      ['0:6', 'no value (an empty record): nothing to replay'],
    ]);
    // Published once: a record sent after the replay is seen after exactly one more copy.
    await producer.send({ topic: other, messages: [{ key: 'after-replay', value: '{}', partition: 1 }] });
    await watch.waitFor((m) => m.key === 'after-replay');
    expect(watch.find((m) => m.key === 'L1')).toHaveLength(3);
    expect(watch.find((m) => m.key === 'J1')).toHaveLength(3);
    expect(watch.find((m) => m.key === 'B1')).toHaveLength(1);
  });

  it('says what is wrong with a command line', () => {
    expect(command(['list', 'eligibility.decisions.v1', '--group', 'enrollment'])).toEqual({ command: 'list', topic: 'eligibility.decisions.v1', group: 'enrollment', at: [] });
    expect(command(['replay', 'eligibility.decisions.v1', '0:12', '1:3'])).toMatchObject({ command: 'replay', at: ['0:12', '1:3'] });
    expect(command(['replay', 'eligibility.decisions.v1', '--all'])).toMatchObject({ at: 'all' });
    expect(() => command(['show'])).toThrow(/^Usage: npm run dlq/);
    expect(() => command(['list'])).toThrow(/Say which topic/);
    expect(() => command(['list', 'eligibility.decisions.v1.dlq'])).toThrow('Name the topic, not its dead-letter topic: eligibility.decisions.v1.');
    for (const topic of ['notification.deliveries', 'notification.deliveries.dlq']) {
      expect(() => command(['list', topic])).toThrow(/^notification.deliveries.dlq is not a consumer's dead letters: it holds the emails/);
    }
    expect(() => command(['replay', 'eligibility.decisions.v1'])).toThrow(/Say which dead letters to replay/);
    expect(() => command(['replay', 'eligibility.decisions.v1', '--all', '0:1'])).toThrow(/Say which dead letters to replay/);
    expect(() => command(['replay', 'eligibility.decisions.v1', '12'])).toThrow('Not understood: 12.');
    expect(command(['republish', 'agreements.status.v1', '3:41'])).toMatchObject({ command: 'republish', at: ['3:41'] });
    // As `list` writes them (the places compared as text): leading zeros dropped.
    expect(command(['replay', 'eligibility.decisions.v1', '0:05', '01:0'])).toMatchObject({ at: ['0:5', '1:0'] });
    expect(command(['republish', 'agreements.status.v1', '2:0042'])).toMatchObject({ at: ['2:42'] });
    expect(() => command(['republish', 'agreements.status.v1'])).toThrow(/Say which records of agreements.status.v1 to publish again/);
    expect(() => command(['republish', 'agreements.status.v1', '--all'])).toThrow('Not understood: --all.');
  });
});
