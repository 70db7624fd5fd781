import { Trace } from '@lib/messaging';
import { CONFIG } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import type { PayoutConfig } from '../config';
import { ScanExpiringTaxProfiles } from './usecases/scan-expiring-tax-profiles.use-case';

const JOB = 'tax-expiry-scan';

/**
 * Runs the expiry scan at start and then every TAX_EXPIRY_SCAN_INTERVAL_MS (0: never); runs never overlap in one
 * process. At start too: an instance restarted (deployed, rescheduled) more often than the interval would otherwise
 * never scan, and every restart would put the reminders off by up to an interval. A scan repeats nothing (one
 * TaxProfileExpiring per profile and expiration date).
 */
@Injectable()
export class TaxExpiryScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(TaxExpiryScheduler.name);
  private running?: Promise<unknown>;

  constructor(
    private readonly registry: SchedulerRegistry,
    private readonly scan: ScanExpiringTaxProfiles,
    @Inject(CONFIG) private readonly config: PayoutConfig,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.config.TAX_EXPIRY_SCAN_INTERVAL_MS;
    if (every <= 0) return;
    const timer = setInterval(() => this.tick(), every);
    timer.unref();
    this.registry.addInterval(JOB, timer);
    this.tick();
  }

  /** No new scan once shutdown begins; a scan running stops between profiles and is waited for (BackgroundWork). */
  onModuleDestroy(): void {
    if (this.registry.doesExist('interval', JOB)) this.registry.deleteInterval(JOB);
  }

  private tick(): void {
    if (this.running) return;
    // A trace of its own: the events of one scan share its run id as correlation and causation id.
    this.running = Trace.job('tax-profile-expiry-scan', () => this.scan.execute())
      .then(({ reported }) => reported && this.logger.log(`reported ${reported} expiring tax profile(s)`))
      .catch((error) => this.logger.warn(`tax expiry scan failed, next run retries: ${(error as Error).message}`))
      .finally(() => (this.running = undefined));
  }
}
