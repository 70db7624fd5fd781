import { Topic } from '@lib/contracts';
import { Inject, Injectable } from '@nestjs/common';
import { MESSAGING_OPTIONS, MessagingOptions } from './options';
import { EmitInput, outboxEvent, OutboxEntry } from './outbox';
import { OutboxRelay } from './outbox-relay';

/**
 * What use cases call to emit events: build entries, store them with the state change (`$push: pushOutbox(...)`
 * or `doc.outbox.push(...)`), then `committed()` so the relay sends them without waiting for its next poll.
 */
@Injectable()
export class EventOutbox {
  constructor(
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingOptions,
    private readonly relay: OutboxRelay,
  ) {}

  event<T extends object>(topic: Topic, input: EmitInput<T>): OutboxEntry {
    return outboxEvent(this.options.serviceName, topic, input);
  }

  /** Tell the relay that new events were committed. */
  committed(): void {
    this.relay.kick();
  }
}
