import { CONFIG, PeriodicJob } from '@lib/platform';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import type { PayoutConfig } from '../config';
import { ScanExpiringTaxProfiles } from './usecases/scan-expiring-tax-profiles.use-case';

/**
 * Runs the expiry scan at start and then every TAX_EXPIRY_SCAN_INTERVAL_MS (0: never), never two at once in one
 * process (PeriodicJob). At start too: every restart would otherwise put the reminders off by up to an interval. A
 * scan repeats nothing (one TaxProfileExpiring per expiration date set on a profile); one running at shutdown stops
 * between profiles and is waited for (BackgroundWork).
 */
@Injectable()
export class TaxExpiryScheduler implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly job: PeriodicJob;

  constructor(
    scan: ScanExpiringTaxProfiles,
    @Inject(CONFIG) private readonly config: PayoutConfig,
  ) {
    const logger = new Logger(TaxExpiryScheduler.name);
    this.job = new PeriodicJob(
      'tax-profile-expiry-scan',
      async () => {
        const { reported } = await scan.execute();
        if (reported) logger.log(`reported ${reported} expiring tax profile(s)`);
      },
      logger,
    );
  }

  onApplicationBootstrap(): void {
    this.job.start(this.config.TAX_EXPIRY_SCAN_INTERVAL_MS);
  }

  onModuleDestroy(): Promise<void> {
    return this.job.stop();
  }
}
