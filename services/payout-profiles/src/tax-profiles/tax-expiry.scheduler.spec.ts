import type { PayoutConfig } from '../config';
import { TaxExpiryScheduler } from './tax-expiry.scheduler';
import type { ScanExpiringTaxProfiles } from './usecases/scan-expiring-tax-profiles.use-case';

describe('TaxExpiryScheduler', () => {
  let scheduler: TaxExpiryScheduler | undefined;

  function start(every: number) {
    const execute = jest.fn().mockResolvedValue({ reported: 0 });
    scheduler = new TaxExpiryScheduler({ execute } as unknown as ScanExpiringTaxProfiles, { TAX_EXPIRY_SCAN_INTERVAL_MS: every } as PayoutConfig);
    scheduler.onApplicationBootstrap();
    return execute;
  }

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => {
    scheduler?.onModuleDestroy();
    jest.useRealTimers();
  });

  it('scans once at start, then every interval (a restart more often than the interval still scans)', async () => {
    const execute = start(3_600_000);
    expect(execute).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(3_599_000);
    expect(execute).toHaveBeenCalledTimes(1);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(execute).toHaveBeenCalledTimes(2);
  });

  it('never scans when the schedule is off (0)', async () => {
    const execute = start(0);
    await jest.advanceTimersByTimeAsync(10_000_000);
    expect(execute).not.toHaveBeenCalled();
  });

  it('stops at shutdown', async () => {
    const execute = start(1_000);
    await jest.advanceTimersByTimeAsync(0);
    scheduler!.onModuleDestroy();
    await jest.advanceTimersByTimeAsync(5_000);
    expect(execute).toHaveBeenCalledTimes(1);
  });
});
