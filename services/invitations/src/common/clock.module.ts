import { Module } from '@nestjs/common';
import { Clock } from './clock';

/** The service's one Clock: reconciling, notices and the overview read the same "now" (a test moves it in one place). */
@Module({ providers: [Clock], exports: [Clock] })
export class ClockModule {}
