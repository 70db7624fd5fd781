import { Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { DeliverToLateAdmins } from '../usecases/deliver-to-late-admins.use-case';

/** identity.events.v1, next to the AccessModule's handler of the same topic (Nest runs both). */
@Controller()
export class IdentityHandler {
  constructor(private readonly deliverToLateAdmins: DeliverToLateAdmins) {}

  @EventPattern(Topics.identity)
  async onIdentityEvent(@Payload() event: ConsumedEvent): Promise<void> {
    await this.deliverToLateAdmins.execute(event.envelope.type, event.envelope.data, event.heartbeat);
  }
}
