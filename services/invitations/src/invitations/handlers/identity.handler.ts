import { IdentityEventFollowers } from '@lib/access';
import { ConsumedEvent } from '@lib/messaging';
import { Injectable, OnModuleInit } from '@nestjs/common';
import { DeliverToLateAdmins } from '../usecases/deliver-to-late-admins.use-case';
import { WaitWhenAdminsLeave } from '../usecases/wait-when-admins-leave.use-case';

/**
 * identity.events.v1, after the AccessModule's handler has applied the event to the role view (it runs this as a
 * follower, in the same handling, so a retry or a dead letter covers the whole): someone who becomes an Incentives
 * admin receives the open invitations of their locations; an invitation whose Incentives admins all left waits for a
 * new one.
 */
@Injectable()
export class IdentityHandler implements OnModuleInit {
  constructor(
    private readonly followers: IdentityEventFollowers,
    private readonly deliverToLateAdmins: DeliverToLateAdmins,
    private readonly waitWhenAdminsLeave: WaitWhenAdminsLeave,
  ) {}

  onModuleInit(): void {
    this.followers.add((event) => this.onIdentityEvent(event));
  }

  async onIdentityEvent(event: ConsumedEvent): Promise<void> {
    await this.deliverToLateAdmins.execute(event.envelope.type, event.envelope.data, event.heartbeat);
    await this.waitWhenAdminsLeave.execute(event.envelope.type, event.envelope.data, event.heartbeat);
  }
}
