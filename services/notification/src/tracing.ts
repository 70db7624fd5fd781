import { startTracing } from '@lib/platform/tracing/tracing';

startTracing('notification');
