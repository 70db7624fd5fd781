/** Runs the widget service as its own process (for kill -9 tests), exactly as a service's main.ts does. */
import 'reflect-metadata';
import { runService } from '@lib/platform';
import { WidgetAppModule } from './widget.app';

void runService(WidgetAppModule);
