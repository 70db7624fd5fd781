import { EventProducer } from './event-producer';

/** A KafkaJS producer as EventProducer uses it (a pure unit test): events, connect, sendBatch, disconnect. */
class FakeProducer {
  readonly events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' };
  private readonly listeners = new Map<string, Array<() => void>>();
  failNextSend = false;
  sent = 0;
  /** Resolves this producer's disconnect (it fires DISCONNECT then, as KafkaJS does once its sockets are closed). */
  finishDisconnect!: () => void;

  on(event: string, listener: () => void) {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }
  private emit(event: string) {
    for (const listener of this.listeners.get(event) ?? []) listener();
  }
  async connect() {
    this.emit(this.events.CONNECT);
  }
  async sendBatch() {
    if (this.failNextSend) {
      this.failNextSend = false;
      throw new Error('send failed');
    }
    this.sent++;
  }
  disconnect() {
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
  const kafka = { producer: () => (made.push(new FakeProducer()), made[made.length - 1]) };
  const topics = { ensureTopics: async () => undefined };
  return { producer: new EventProducer(kafka as never, topics as never), made };
}

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

  it('its own disconnect at shutdown reads as disconnected', async () => {
    const { producer, made } = producerOver();
    await producer.connect();
    const stopping = producer.disconnect();
    made[0].finishDisconnect();
    await stopping;
    expect(producer.isConnected).toBe(false);
  });
});
