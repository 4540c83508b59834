export { Random } from '../emulator/random';
