import { KafkaJSProtocolError } from 'kafkajs';
import { ProblemException, Problems, RetryableProblem } from '@lib/platform';
import { HttpStatus } from '@nestjs/common';
import { classifyFailure, describeError, stackFrames } from './errors';
import { MongoNetworkError } from 'mongodb';

describe('a consumed event failing with an HTTP problem', () => {
  it('is dead-lettered with the problem detail, not only its class name', () => {
    const error = Problems.notFound('Bank profile bp-1');
    expect(describeError(error)).toContain('Bank profile bp-1');
    expect(describeError(error)).toMatch(/^\w+ 404: /);
    expect(classifyFailure(error)).toBe('permanent');
  });

  it("names the fields a validation problem gives (the field and its message), as the HTTP answer does", () => {
    const error = Problems.field('revision', 'profile bp-1 has no revision 5 (current: 1)');
    expect(describeError(error)).toContain('revision: profile bp-1 has no revision 5 (current: 1)');
    expect(describeError(error)).toMatch(/^\w+ 400: /);
  });

  it('is retried, not dead-lettered, when the problem says to try again', () => {
    const busy = new RetryableProblem(HttpStatus.CONFLICT, 'busy', 'Busy', 'Another request holds the lease; try again.');
    expect(classifyFailure(busy)).toBe('transient');
    expect(classifyFailure(new ProblemException(HttpStatus.CONFLICT, 'conflict', 'Conflict', 'Taken.'))).toBe('permanent');
  });
});

// An outage waits (retried without limit) rather than dead-lettering good messages: also when the driver wraps it.
describe('a database outage seen through a bulk write', () => {
  it('is infrastructure, not transient, when the network error is wrapped (MongoBulkWriteError) or the pool was cleared', () => {
    const network = new MongoNetworkError('connection 3 to 127.0.0.1:27017 closed');
    const bulk = Object.assign(new Error('connection 3 to 127.0.0.1:27017 closed'), { name: 'MongoBulkWriteError', errorResponse: network });
    expect(classifyFailure(bulk)).toBe('infrastructure');
    expect(classifyFailure(Object.assign(new Error('wrapped'), { cause: network }))).toBe('infrastructure');
    expect(classifyFailure(Object.assign(new Error('pool cleared'), { name: 'MongoPoolClearedError' }))).toBe('infrastructure');
    // A bulk write refused for its own reasons stays transient (bounded retries, then the DLQ).
    expect(classifyFailure(Object.assign(new Error('E11000'), { name: 'MongoBulkWriteError', errorResponse: { code: 11000 } }))).toBe('transient');
  });
});

describe('a failure the client says will pass', () => {
  it("is infrastructure: a Kafka broker's retriable answer, a MongoDB error labelled for retry; not a Kafka error that is not retriable", () => {
    const coordinatorMoving = new KafkaJSProtocolError(Object.assign(new Error('The coordinator is not available'), { type: 'GROUP_COORDINATOR_NOT_AVAILABLE', code: 15, retriable: true }));
    expect(classifyFailure(coordinatorMoving)).toBe('infrastructure');
    const steppedDown = Object.assign(new Error('not primary'), { name: 'MongoServerError', code: 10107, errorLabels: ['RetryableWriteError'] });
    expect(classifyFailure(steppedDown)).toBe('infrastructure');
    const refused = new KafkaJSProtocolError(Object.assign(new Error('Not authorized'), { type: 'TOPIC_AUTHORIZATION_FAILED', code: 29, retriable: false }));
    expect(classifyFailure(refused)).toBe('transient');
    expect(classifyFailure(Object.assign(new Error('duplicate'), { name: 'MongoServerError', code: 11000, errorLabels: [] }))).toBe('transient');
  });
});

describe('a replica set electing a primary, or a node stopping', () => {
  it('is infrastructure by its code, also unlabelled (a multi-document update) or in a bulk write\'s answer; other server errors are not', () => {
    const unlabelled = (code: number) => Object.assign(new Error('x'), { name: 'MongoServerError', code, errorLabels: [] });
    for (const code of [10107, 11602, 189, 91, 11600, 13435, 13436, 6, 7, 89, 133, 9001, 262, 134]) expect(classifyFailure(unlabelled(code))).toBe('infrastructure');
    const bulk = Object.assign(new Error('not primary'), { name: 'MongoBulkWriteError', errorResponse: { code: 10107, errmsg: 'not primary' } });
    expect(classifyFailure(bulk)).toBe('infrastructure');
    expect(classifyFailure(unlabelled(11000))).toBe('transient');
    expect(classifyFailure(unlabelled(2))).toBe('transient');
    // The same number on an error that is not MongoDB's says nothing of it.
    expect(classifyFailure(Object.assign(new Error('x'), { code: 10107 }))).toBe('transient');
  });
});

describe('a write refused for the size of the document it would make', () => {
  it('is permanent (dead-lettered at once): the server\'s codes, in a bulk write\'s answer too, and the driver\'s own check', () => {
    for (const code of [10334, 17419, 17420]) {
      expect(classifyFailure(Object.assign(new Error('too large'), { name: 'MongoServerError', code }))).toBe('permanent');
    }
    expect(classifyFailure(Object.assign(new Error('x'), { name: 'MongoBulkWriteError', errorResponse: { code: 17419, errmsg: 'Resulting document after update is larger than 16777216' } }))).toBe('permanent');
    expect(classifyFailure(Object.assign(new Error('Document is larger than the maximum size 16777216'), { name: 'MongoInvalidArgumentError' }))).toBe('permanent');
    expect(classifyFailure(Object.assign(new Error('x'), { code: 17419 }))).toBe('transient');
  });
});

describe('stackFrames', () => {
  it('gives the first frames of an error on one line, and nothing for what is not an Error', () => {
    function failingHandler(): never {
      throw new TypeError("Cannot read properties of undefined (reading 'x')");
    }
    let caught: unknown;
    try {
      failingHandler();
    } catch (error) {
      caught = error;
    }
    const frames = stackFrames(caught, 2);
    expect(frames).toMatch(/^at failingHandler \(.*errors\.spec\.ts:\d+:\d+\) \| at /);
    expect(frames.split(' | ')).toHaveLength(2);
    expect(stackFrames(['a validation error'])).toBe('');
    expect(stackFrames(Object.assign(new Error('no stack'), { stack: undefined }))).toBe('');
  });
});

describe("KafkaJS's aggregate of per-topic refusals (topic creation)", () => {
  it('is described with each topic and its refusal, not only "Topic creation errors"', () => {
    const refused = (topic: string, type: string) => Object.assign(new Error(type), { topic, type, retriable: false });
    const error = Object.assign(new Error('Topic creation errors'), {
      name: 'KafkaJSAggregateError',
      errors: [refused('payout-profiles.validation-requests.v1', 'TOPIC_AUTHORIZATION_FAILED'), refused('agreements.status.v1.dlq', 'POLICY_VIOLATION')],
    });
    expect(describeError(error)).toBe(
      'KafkaJSAggregateError: Topic creation errors (payout-profiles.validation-requests.v1: TOPIC_AUTHORIZATION_FAILED; agreements.status.v1.dlq: POLICY_VIOLATION)',
    );
  });
});
