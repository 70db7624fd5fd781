import { Topics } from '@lib/contracts';
import { ConsumedEvent } from '@lib/messaging';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { DeliverToLateAdmins } from '../usecases/deliver-to-late-admins.use-case';
import { WaitWhenAdminsLeave } from '../usecases/wait-when-admins-leave.use-case';

/**
 * identity.events.v1, next to the AccessModule's handler of the same topic (Nest runs both): someone who becomes an
 * Incentives admin receives the open invitations of their locations; an invitation whose Incentives admins all left
 * waits for a new one.
 */
@Controller()
export class IdentityHandler {
  constructor(
    private readonly deliverToLateAdmins: DeliverToLateAdmins,
    private readonly waitWhenAdminsLeave: WaitWhenAdminsLeave,
  ) {}

  @EventPattern(Topics.identity)
  async onIdentityEvent(@Payload() event: ConsumedEvent): Promise<void> {
    await this.deliverToLateAdmins.execute(event.envelope.type, event.envelope.data, event.heartbeat);
    await this.waitWhenAdminsLeave.execute(event.envelope.type, event.envelope.data, event.heartbeat);
  }
}
