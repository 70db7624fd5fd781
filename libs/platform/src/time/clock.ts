import { Injectable, Module } from '@nestjs/common';

/**
 * "Now", injectable: rules that depend on the date (a fiscal year that is over, the daily rollover, reminders) can be
 * tested at any date by moving it in one place (`jest.spyOn(app.get(Clock), 'now')`).
 */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}

/** A service's one Clock: import this module wherever Clock is injected, so every user reads the same instance. */
@Module({ providers: [Clock], exports: [Clock] })
export class ClockModule {}
