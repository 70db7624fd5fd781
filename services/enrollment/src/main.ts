import 'reflect-metadata';
// First: tracing patches http, express and mongodb as they load (libs/platform/src/tracing).
import './tracing';
import { runService } from '@lib/platform';
import { AppModule } from './app.module';

void runService(AppModule);
