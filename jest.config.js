/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest'] },
  // middy is ESM-only: let swc turn it into CommonJS for jest
  transformIgnorePatterns: ['/node_modules/(?!@middy/)'],
  // A handle left open somewhere in the full in-band run (2 cores: jest runs in band) kept the process alive
  // after every test had passed; each suite alone exits cleanly. Until it is found, end the run when it ends.
  forceExit: true,
  moduleNameMapper: { '^@middy/core$': '<rootDir>/node_modules/@middy/core/index.js' },
};
