export * from './access.module';
export * from './access.policy';
export * from './access.schemas';
export * from './access.view';
