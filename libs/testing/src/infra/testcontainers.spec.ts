import { kafkaContainerEnvironment, startKafkaContainer } from './testcontainers';

/** The environment the started container was given (the module stood in for: no Docker engine here). */
const given: Array<Record<string, string>> = [];
jest.mock('@testcontainers/kafka', () => ({
  KafkaContainer: class {
    private environment: Record<string, string> = {};
    withKraft() {
      return this;
    }
    withEnvironment(environment: Record<string, string>) {
      Object.assign(this.environment, environment);
      return this;
    }
    async start() {
      given.push(this.environment);
      return { getHost: () => 'localhost', getMappedPort: () => 9093, stop: async () => undefined };
    }
  },
}));

// Where a Docker engine answers, the broker is a container: it must take transactions and topics as the local one does.
describe('the Kafka container', () => {
  it('holds one replica of the transaction state (a single broker never has the default three), and of the offsets', () => {
    expect(kafkaContainerEnvironment()).toMatchObject({
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_DEFAULT_REPLICATION_FACTOR: '1',
    });
  });

  it('creates topics on the fly with as many partitions as the local broker, and lets groups join at once', () => {
    expect(kafkaContainerEnvironment()).toMatchObject({
      KAFKA_NUM_PARTITIONS: '6',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    });
  });

  it('is started with them', async () => {
    const server = await startKafkaContainer();
    expect(server.brokers).toEqual(['localhost:9093']);
    expect(given).toEqual([kafkaContainerEnvironment()]);
  });
});
