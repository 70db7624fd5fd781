import { ProblemException, Problems, RetryableProblem } from '@lib/platform';
import { HttpStatus } from '@nestjs/common';
import { classifyFailure, describeError } from './errors';
import { MongoNetworkError } from 'mongodb';
import { OutboxEntry } from './outbox';
import { publishOrder } from './outbox-relay';

describe('a consumed event failing with an HTTP problem', () => {
  it('is dead-lettered with the problem detail, not only its class name', () => {
    const error = Problems.notFound('Bank profile bp-1');
    expect(describeError(error)).toContain('Bank profile bp-1');
    expect(describeError(error)).toMatch(/^\w+ 404: /);
    expect(classifyFailure(error)).toBe('permanent');
  });

  it('is retried, not dead-lettered, when the problem says to try again', () => {
    const busy = new RetryableProblem(HttpStatus.CONFLICT, 'busy', 'Busy', 'Another request holds the lease; try again.');
    expect(classifyFailure(busy)).toBe('transient');
    expect(classifyFailure(new ProblemException(HttpStatus.CONFLICT, 'conflict', 'Conflict', 'Taken.'))).toBe('permanent');
  });
});

describe('the relay publishing order', () => {
  const entry = (eventId: string, createdAt: string): OutboxEntry =>
    ({ eventId, topic: 't', key: 'k', value: eventId, createdAt: new Date(createdAt) }) as OutboxEntry;

  it("keeps each document's entries in their array order, even when a writer's clock ran behind", () => {
    // e2 was appended after e1 by a writer whose clock is 2 s behind: the array is the commit order.
    const doc = { outbox: [entry('e1', '2026-07-01T10:00:05Z'), entry('e2', '2026-07-01T10:00:03Z')] };
    expect(publishOrder([doc]).map((e) => e.eventId)).toEqual(['e1', 'e2']);
  });

  it('interleaves documents by creation time', () => {
    const a = { outbox: [entry('a1', '2026-07-01T10:00:01Z'), entry('a2', '2026-07-01T10:00:04Z')] };
    const b = { outbox: [entry('b1', '2026-07-01T10:00:02Z'), entry('b2', '2026-07-01T10:00:03Z')] };
    expect(publishOrder([a, b]).map((e) => e.eventId)).toEqual(['a1', 'b1', 'b2', 'a2']);
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
