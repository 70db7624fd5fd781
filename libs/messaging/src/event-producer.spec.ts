import { eventually } from '@lib/testing';
import { Logger } from '@nestjs/common';
import { EventProducer } from './event-producer';

/** A KafkaJS producer as EventProducer uses it (a pure unit test): events, connect, sendBatch, disconnect. */
class FakeProducer {
  readonly events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' };
  private readonly listeners = new Map<string, Array<() => void>>();
  failNextSend = false;
  /** Sends wait until released (holdSends), one by one in order. */
  holdSends = false;
  private readonly held: Array<() => void> = [];
  sent = 0;
  disconnectCalled = false;
  /** Resolves this producer's disconnect (it fires DISCONNECT then, as KafkaJS does once its sockets are closed). */
  finishDisconnect!: () => void;

  on(event: string, listener: () => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }
  private emit(event: string) {
    for (const listener of this.listeners.get(event) ?? []) listener();
  }
  /** Connections refused (the broker away), shared by every producer made: each connect takes one. */
  static refusals = 0;
  async connect() {
    if (FakeProducer.refusals > 0) {
      FakeProducer.refusals--;
      throw new Error('Connection refused');
    }
    this.emit(this.events.CONNECT);
  }
  releaseSend() {
    this.held.shift()?.();
  }
  /** What each sendBatch was asked (its acks). */
  readonly requests: Array<{ acks?: number }> = [];
  async sendBatch(request: { acks?: number } = {}) {
    this.requests.push({ acks: request.acks });
    if (this.holdSends) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.disconnectCalled) throw new Error('producer disconnected');
    if (this.failNextSend) {
      this.failNextSend = false;
      throw new Error('send failed');
    }
    this.sent++;
  }
  disconnect() {
    this.disconnectCalled = true;
    return new Promise<void>((resolve) => {
      this.finishDisconnect = () => {
        this.emit(this.events.DISCONNECT);
        resolve();
      };
    });
  }
}

function producerOver() {
  const made: FakeProducer[] = [];
  const configs: unknown[] = [];
  const kafka = { producer: (config: unknown) => (configs.push(config), made.push(new FakeProducer()), made[made.length - 1]) };
  const ensured: string[][] = [];
  const forgotten: string[][] = [];
  const topics = { ensureTopics: async (names: string[]) => void ensured.push(names), forget: (names: string[]) => void forgotten.push(names) };
  return { producer: new EventProducer(kafka as never, topics as never), made, ensured, forgotten, configs };
}

// SPEC 5: published with acks=all, by an idempotent producer (no duplicate or reordered write on its own retries). On
// one broker acks=1 behaves the same, so only this says it.
describe('EventProducer: how it publishes', () => {
  it('is an idempotent producer, one request in flight, and every send waits for all in-sync replicas (acks=all)', async () => {
    const { producer, made, configs } = producerOver();
    await producer.send('t', [{ value: 'a' }]);
    expect(configs).toEqual([expect.objectContaining({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })]);
    expect(made[0].requests).toEqual([{ acks: -1 }]);
  });
});

describe('EventProducer: a failed send replaces the producer', () => {
  it("the replaced producer's disconnect, ending after its replacement connected, leaves the replacement connected and in use", async () => {
    const { producer, made } = producerOver();
    await producer.connect();
    made[0].failNextSend = true;
    await expect(producer.send('t', [{ value: 'a' }])).rejects.toThrow('send failed');
    // The replacement connects at once (readiness); the failed one's disconnect ends only now.
    await new Promise((resolve) => setImmediate(resolve));
    expect(made).toHaveLength(2);
    made[0].finishDisconnect();
    await new Promise((resolve) => setImmediate(resolve));

    expect(producer.isConnected).toBe(true);
    await producer.send('t', [{ value: 'b' }]);
    expect(made).toHaveLength(2); // no third producer (the second one would have been left open)
    expect(made[1].sent).toBe(1);
  });

  it('sends running on the failed producer finish on it: it is disconnected after them, not under them', async () => {
    const { producer, made } = producerOver();
    await producer.connect();
    made[0].holdSends = true;
    made[0].failNextSend = true;
    const failing = producer.send('dead-letters', [{ value: 'too large' }]);
    const other = producer.send('t', [{ value: 'relay' }]);
    await new Promise((resolve) => setImmediate(resolve));
    made[0].releaseSend();
    await expect(failing).rejects.toThrow('send failed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(made).toHaveLength(2); // replaced at once: new sends go to the new producer
    expect(made[0].disconnectCalled).toBe(false); // the relay's send is still running on it
    // One that got the failed producer just before it was replaced goes to the new one too, not to the failed one.
    jest.spyOn(producer, 'connect').mockResolvedValueOnce(made[0] as never);
    await producer.send('t', [{ value: 'late' }]);
    expect(made[1].sent).toBe(1);
    made[0].releaseSend();
    await expect(other).resolves.toBeUndefined();
    expect(made[0].sent).toBe(1);
    expect(made[0].disconnectCalled).toBe(true);
    await producer.send('t', [{ value: 'next' }]);
    expect(made[1].sent).toBe(2);
  });

  it('a send that got the producer just before it was replaced and disconnected goes to the new one', async () => {
    const { producer, made } = producerOver();
    await producer.connect();
    made[0].failNextSend = true;
    await expect(producer.send('t', [{ value: 'a' }])).rejects.toThrow('send failed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(made[0].disconnectCalled).toBe(true); // nothing else was running on it
    // Its connect answered before the failure above, its send starts after it.
    jest.spyOn(producer, 'connect').mockResolvedValueOnce(made[0] as never);
    await producer.send('t', [{ value: 'b' }]);
    expect(made[1].sent).toBe(1);
  });

  it('connects again by itself once the broker is back, without a send to make it (readiness reads it)', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { producer, made } = producerOver();
    await producer.connect();
    made[0].failNextSend = true;
    FakeProducer.refusals = 2; // the broker away for the reconnect at once and the one a second later
    await expect(producer.send('t', [{ value: 'a' }])).rejects.toThrow('send failed');
    made[0].finishDisconnect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(producer.isConnected).toBe(false);
    await eventually(async () => expect(producer.isConnected).toBe(true), 10_000, 50);
    expect(FakeProducer.refusals).toBe(0);
    expect(made).toHaveLength(4); // the failed one, two refused, the one connected
  }, 20_000);

  it('stops trying to connect again once disconnected at shutdown', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { producer, made } = producerOver();
    await producer.connect();
    made[0].failNextSend = true;
    FakeProducer.refusals = 1;
    await expect(producer.send('t', [{ value: 'a' }])).rejects.toThrow('send failed');
    await new Promise((resolve) => setImmediate(resolve));
    const stopping = producer.disconnect();
    made[0].finishDisconnect();
    await stopping;
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the retry's delay
    expect(made).toHaveLength(2);
    expect(producer.isConnected).toBe(false);
  }, 20_000);

  it('its own disconnect at shutdown reads as disconnected', async () => {
    const { producer, made } = producerOver();
    await producer.connect();
    const stopping = producer.disconnect();
    made[0].finishDisconnect();
    await stopping;
    expect(producer.isConnected).toBe(false);
  });
});

describe('EventProducer: a topic deleted since it was created', () => {
  // An operator purging a dead-letter topic by deleting it: known to exist for good, every send there failed until the
  // service restarted (a consumer's partition stuck on its next dead letter, the relay on its next event there).
  it('is looked for again (and created) before the next send there, once a send to it failed', async () => {
    const { producer, made, ensured, forgotten } = producerOver();
    await producer.connect();
    made[0].failNextSend = true;
    await expect(producer.send('orders.dlq', [{ value: 'a' }])).rejects.toThrow('send failed');
    expect(forgotten).toEqual([['orders.dlq']]);
    await producer.send('orders.dlq', [{ value: 'a' }]);
    expect(ensured).toEqual([['orders.dlq'], ['orders.dlq']]);
  });
});
