/** @type {import('jest').Config} */
module.exports = {
  // node's, and a test file that ends with a local runtime or emulator still running fails, naming itself
  testEnvironment: '<rootDir>/test/support/leakCheckEnvironment.ts',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest'] },
  // middy is ESM-only: let swc turn it into CommonJS for jest
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  moduleNameMapper: { '^@middy/core$': '<rootDir>/node_modules/@middy/core/index.js' },
};
