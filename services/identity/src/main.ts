import 'reflect-metadata';
import { runService } from '@lib/platform';
import { AppModule } from './app.module';

void runService(AppModule);
