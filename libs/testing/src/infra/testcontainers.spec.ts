import { kafkaContainerEnvironment } from './testcontainers';

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
});
