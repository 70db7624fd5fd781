import { vatLayoutProblem } from './vat';

describe('VAT id layouts in Europe', () => {
  it.each([
    ['ATU12345678', 'AT'],
    ['BE0123456789', 'BE'],
    ['BG123456789', 'BG'],
    ['CY12345678L', 'CY'],
    ['CZ12345678', 'CZ'],
    ['DE123456789', 'DE'],
    ['DK12345678', 'DK'],
    ['EE123456789', 'EE'],
    ['EL123456789', 'GR'],
    ['ESB12345678', 'ES'],
    ['ESX1234567L', 'ES'],
    ['FI12345678', 'FI'],
    ['FRXX123456789', 'FR'],
    ['HR12345678901', 'HR'],
    ['HU12345678', 'HU'],
    ['IE1234567T', 'IE'],
    ['IE1234567WA', 'IE'],
    ['IT12345678901', 'IT'],
    ['LT123456789012', 'LT'],
    ['LU12345678', 'LU'],
    ['LV12345678901', 'LV'],
    ['MT12345678', 'MT'],
    ['NL123456789B01', 'NL'],
    ['PL1234567890', 'PL'],
    ['PT123456789', 'PT'],
    ['RO1234567890', 'RO'],
    ['SE123456789701', 'SE'],
    ['SI12345678', 'SI'],
    ['SK1234567890', 'SK'],
    ['XI123456789', 'GB'],
    ['GB123456789', 'GB'],
    ['GBGD001', 'GB'],
    ['NO123456789MVA', 'NO'],
    ['FR12345678901', 'MC'],
    ['GB123456789012', 'IM'],
    ['FR12345678901', 'RE'],
    ['FI12345678', 'AX'],
  ])('takes %s (incorporated in %s)', (vatId, country) => {
    expect(vatLayoutProblem(vatId, country)).toBeUndefined();
  });

  it.each([
    ['ATU1234567', 'AT', 'U and 8 digits'],
    ['BE2123456789', 'BE', '10 digits starting with 0 or 1'],
    ['DE1234567890', 'DE', '9 digits'],
    ['FRIO123456789', 'FR', '2 letters or digits (not I or O) and 9 digits'],
    ['NL123456789', 'NL', '9 digits, B and 2 digits'],
    ['SE123456789702', 'SE', '12 digits ending in 01'],
    ['RO0123456', 'RO', '2 to 10 digits, not starting with 0'],
    ['PL123456789', 'DE', '10 digits'],
    ['FR1234567890', 'GP', '2 letters or digits (not I or O) and 9 digits'],
    ['FI1234567', 'AX', '8 digits'],
  ])('refuses %s (incorporated in %s): %s', (vatId, country, layout) => {
    expect(vatLayoutProblem(vatId, country)).toBe(`must be a VAT id of ${vatId.slice(0, 2)}: ${vatId.slice(0, 2)} then ${layout}`);
  });

  it('leaves ids without a European prefix, and companies incorporated elsewhere, to the general rule', () => {
    expect(vatLayoutProblem('123456789', 'DE')).toBeUndefined();
    expect(vatLayoutProblem('U12345678', 'AT')).toBeUndefined();
    expect(vatLayoutProblem('DE1', 'JP')).toBeUndefined();
    expect(vatLayoutProblem('ESA', 'MX')).toBeUndefined();
  });
});
