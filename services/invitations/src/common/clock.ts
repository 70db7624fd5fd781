import { Injectable } from '@nestjs/common';

/**
 * "Now", injectable so that the fiscal-year rule (nothing invites to a year that is over) can be tested at any date.
 * The same pattern as the enrollment service's Clock, whose Enroll refuses a year that is over.
 */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
