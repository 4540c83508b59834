/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest'] },
  // middy is ESM-only: let swc turn it into CommonJS for jest
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  // The full run (CI, fresh clone) still ends with one local runtime left listening (its emulator, dynalite and
  // Step Functions endpoint, one run-job execution SUCCEEDED): some suite does not stop it. Until that suite is
  // found, end the run when its tests end, so a leak cannot hold CI until its time limit.
  forceExit: true,
  moduleNameMapper: { '^@middy/core$': '<rootDir>/node_modules/@middy/core/index.js' },
};
