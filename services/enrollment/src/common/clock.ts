import { Injectable } from '@nestjs/common';

/** "Now", injectable so that the scheduled jobs' decisions can be tested at any date. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
